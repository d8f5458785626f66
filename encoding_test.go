package raft

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// ---- generators ----

// genUint64 favours the values where encodings change size or overflow.
var genUint64 = rapid.OneOf(
	rapid.Uint64(),
	rapid.SampledFrom([]uint64{
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, math.MaxUint32,
		math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64 - 1, math.MaxUint64,
	}),
)

// genBytes draws nil, empty, short and occasionally long slices (long enough
// for bin16).
var genBytes = rapid.OneOf(
	rapid.Just([]byte(nil)),
	rapid.Just([]byte{}),
	rapid.SliceOfN(rapid.Byte(), 1, 40),
	rapid.SliceOfN(rapid.Byte(), 250, 300),
)

// genEnum draws every named value of an enum as well as arbitrary ones: the
// encoding carries unknown values unchanged.
func genEnum[E ~uint8](names []string) *rapid.Generator[E] {
	return rapid.Custom(func(t *rapid.T) E {
		if rapid.Bool().Draw(t, "known") {
			return E(rapid.IntRange(0, len(names)-1).Draw(t, "value"))
		}
		return E(rapid.Uint8().Draw(t, "value"))
	})
}

var genUint64s = rapid.OneOf(
	rapid.Just([]uint64(nil)),
	rapid.Just([]uint64{}),
	rapid.SliceOfN(genUint64, 1, 8),
)

var genEntry = rapid.Custom(func(t *rapid.T) Entry {
	return Entry{
		Term:  genUint64.Draw(t, "Term"),
		Index: genUint64.Draw(t, "Index"),
		Type:  genEnum[EntryType](entryTypeNames[:]).Draw(t, "Type"),
		Data:  genBytes.Draw(t, "Data"),
	}
})

var genHardState = rapid.Custom(func(t *rapid.T) HardState {
	return HardState{
		Term:   genUint64.Draw(t, "Term"),
		Vote:   genUint64.Draw(t, "Vote"),
		Commit: genUint64.Draw(t, "Commit"),
	}
})

var genConfState = rapid.Custom(func(t *rapid.T) ConfState {
	return ConfState{
		Voters:         genUint64s.Draw(t, "Voters"),
		Learners:       genUint64s.Draw(t, "Learners"),
		VotersOutgoing: genUint64s.Draw(t, "VotersOutgoing"),
		LearnersNext:   genUint64s.Draw(t, "LearnersNext"),
		AutoLeave:      rapid.Bool().Draw(t, "AutoLeave"),
	}
})

var genSnapshot = rapid.Custom(func(t *rapid.T) Snapshot {
	return Snapshot{
		Metadata: SnapshotMetadata{
			ConfState: genConfState.Draw(t, "ConfState"),
			Index:     genUint64.Draw(t, "Index"),
			Term:      genUint64.Draw(t, "Term"),
		},
		Data: genBytes.Draw(t, "Data"),
	}
})

var genMessage = rapid.Custom(func(t *rapid.T) Message {
	return Message{
		Type:       genEnum[MessageType](messageTypeNames[:]).Draw(t, "Type"),
		To:         genUint64.Draw(t, "To"),
		From:       genUint64.Draw(t, "From"),
		Term:       genUint64.Draw(t, "Term"),
		LogTerm:    genUint64.Draw(t, "LogTerm"),
		Index:      genUint64.Draw(t, "Index"),
		Entries:    rapid.OneOf(rapid.Just([]Entry(nil)), rapid.SliceOfN(genEntry, 0, 5)).Draw(t, "Entries"),
		Commit:     genUint64.Draw(t, "Commit"),
		Snapshot:   rapid.Ptr(genSnapshot, true).Draw(t, "Snapshot"),
		Reject:     rapid.Bool().Draw(t, "Reject"),
		RejectHint: genUint64.Draw(t, "RejectHint"),
		Context:    genBytes.Draw(t, "Context"),
	}
})

var genConfChange = rapid.Custom(func(t *rapid.T) ConfChange {
	genSingle := rapid.Custom(func(t *rapid.T) ConfChangeSingle {
		return ConfChangeSingle{
			Type:   genEnum[ConfChangeType](confChangeTypeNames[:]).Draw(t, "Type"),
			NodeID: genUint64.Draw(t, "NodeID"),
		}
	})
	return ConfChange{
		Transition: genEnum[ConfChangeTransition](confChangeTransitionNames[:]).Draw(t, "Transition"),
		Changes:    rapid.OneOf(rapid.Just([]ConfChangeSingle(nil)), rapid.SliceOfN(genSingle, 0, 5)).Draw(t, "Changes"),
		Context:    genBytes.Draw(t, "Context"),
	}
})

// ---- nil/empty normalization ----
//
// The wire format does not promise to tell a nil slice from an empty one
// (see encoding.go), so round trips are compared after turning every empty
// slice into nil.

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normUint64s(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normEntry(e Entry) Entry {
	e.Data = normBytes(e.Data)
	return e
}

func normConfState(cs ConfState) ConfState {
	cs.Voters = normUint64s(cs.Voters)
	cs.Learners = normUint64s(cs.Learners)
	cs.VotersOutgoing = normUint64s(cs.VotersOutgoing)
	cs.LearnersNext = normUint64s(cs.LearnersNext)
	return cs
}

func normSnapshot(sp Snapshot) Snapshot {
	sp.Metadata.ConfState = normConfState(sp.Metadata.ConfState)
	sp.Data = normBytes(sp.Data)
	return sp
}

func normMessage(m Message) Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	} else {
		es := make([]Entry, len(m.Entries))
		for i, e := range m.Entries {
			es[i] = normEntry(e)
		}
		m.Entries = es
	}
	if m.Snapshot != nil {
		sp := normSnapshot(*m.Snapshot)
		m.Snapshot = &sp
	}
	m.Context = normBytes(m.Context)
	return m
}

func normConfChange(cc ConfChange) ConfChange {
	if len(cc.Changes) == 0 {
		cc.Changes = nil
	}
	cc.Context = normBytes(cc.Context)
	return cc
}

func normHardState(st HardState) HardState { return st }

// ---- round trips ----

// codecOf bundles what the generic tests need to know about one wire type.
type codecOf[T any] struct {
	name      string
	gen       *rapid.Generator[T]
	marshal   func(T) ([]byte, error)
	unmarshal func(*T, []byte) error
	norm      func(T) T
	sizeBound func(*T) int
}

func testRoundTrip[T any](t *testing.T, c codecOf[T]) {
	t.Run(c.name, func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			want := c.gen.Draw(t, c.name)
			b, err := c.marshal(want)
			require.NoError(t, err)
			require.LessOrEqual(t, len(b), c.sizeBound(&want), "size bound")
			var got T
			require.NoError(t, c.unmarshal(&got, b))
			require.Equal(t, c.norm(want), c.norm(got))
			// Encoding is deterministic: the decoded value encodes to the
			// same bytes.
			b2, err := c.marshal(got)
			require.NoError(t, err)
			require.Equal(t, b, b2)
		})
	})
}

var (
	messageCodec = codecOf[Message]{"Message", genMessage, Message.Marshal, (*Message).Unmarshal, normMessage, messageSize}
	entryCodec   = codecOf[Entry]{"Entry", genEntry, Entry.Marshal, (*Entry).Unmarshal, normEntry, entrySize}
	hardCodec    = codecOf[HardState]{"HardState", genHardState, HardState.Marshal, (*HardState).Unmarshal, normHardState,
		func(*HardState) int { return hardStateSize() }}
	snapCodec   = codecOf[Snapshot]{"Snapshot", genSnapshot, Snapshot.Marshal, (*Snapshot).Unmarshal, normSnapshot, snapshotSize}
	confCodec   = codecOf[ConfState]{"ConfState", genConfState, ConfState.Marshal, (*ConfState).Unmarshal, normConfState, confStateSize}
	changeCodec = codecOf[ConfChange]{"ConfChange", genConfChange, ConfChange.Marshal, (*ConfChange).Unmarshal, normConfChange, confChangeSize}
)

func TestRoundTrip(t *testing.T) {
	testRoundTrip(t, messageCodec)
	testRoundTrip(t, entryCodec)
	testRoundTrip(t, hardCodec)
	testRoundTrip(t, snapCodec)
	testRoundTrip(t, confCodec)
	testRoundTrip(t, changeCodec)
}

// fullMessage sets every field, nested ones included, to something non-zero.
func fullMessage() Message {
	return Message{
		Type: MsgSnap, To: 2, From: 1, Term: 9, LogTerm: 8, Index: 100,
		Entries: []Entry{{Term: 9, Index: 101, Type: EntryConfChange, Data: []byte("cc")}},
		Commit:  99,
		Snapshot: &Snapshot{
			Metadata: SnapshotMetadata{
				ConfState: ConfState{
					Voters: []uint64{1, 2}, Learners: []uint64{3}, VotersOutgoing: []uint64{1},
					LearnersNext: []uint64{4}, AutoLeave: true,
				},
				Index: 90, Term: 7,
			},
			Data: []byte("state"),
		},
		Reject: true, RejectHint: 55, Context: []byte("ctx"),
	}
}

func TestUnmarshalOverwritesReusedReceiver(t *testing.T) {
	small := Message{Type: MsgHeartbeat, To: 3, Term: 1}
	b, err := small.Marshal()
	require.NoError(t, err)

	m := fullMessage()
	require.NoError(t, m.Unmarshal(b))
	assert.Equal(t, small, m)

	// The same for the other types, from a full value to the zero one.
	zeroEnc := func(v interface{ Marshal() ([]byte, error) }) []byte {
		b, err := v.Marshal()
		require.NoError(t, err)
		return b
	}
	full := fullMessage()
	e := full.Entries[0]
	require.NoError(t, e.Unmarshal(zeroEnc(Entry{})))
	assert.Equal(t, Entry{}, e)
	sp := *full.Snapshot
	require.NoError(t, sp.Unmarshal(zeroEnc(Snapshot{})))
	assert.Equal(t, Snapshot{}, sp)
	cs := full.Snapshot.Metadata.ConfState
	require.NoError(t, cs.Unmarshal(zeroEnc(ConfState{})))
	assert.Equal(t, ConfState{}, cs)
	st := HardState{Term: 1, Vote: 2, Commit: 3}
	require.NoError(t, st.Unmarshal(zeroEnc(HardState{})))
	assert.Equal(t, HardState{}, st)
	cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{{NodeID: 1}}, Context: []byte("x")}
	require.NoError(t, cc.Unmarshal(zeroEnc(ConfChange{})))
	assert.Equal(t, ConfChange{}, cc)
}

func TestUnmarshalDoesNotShareMemory(t *testing.T) {
	// With the input...
	want := fullMessage()
	b, err := want.Marshal()
	require.NoError(t, err)
	var m Message
	require.NoError(t, m.Unmarshal(b))
	for i := range b {
		b[i] = 0xff
	}
	assert.Equal(t, fullMessage(), m)

	// ...and with the slices of a value the receiver held before.
	old := fullMessage()
	oldEntries, oldContext := old.Entries, old.Context
	other := Message{Entries: []Entry{{Data: []byte("zz")}}, Context: []byte("new")}
	b, err = other.Marshal()
	require.NoError(t, err)
	require.NoError(t, old.Unmarshal(b))
	assert.Equal(t, []byte("cc"), oldEntries[0].Data)
	assert.Equal(t, []byte("ctx"), oldContext)
}

// TestWireFormat pins the bytes of the format: a change here breaks every
// cluster that mixes versions.
func TestWireFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    interface{ Marshal() ([]byte, error) }
		hex  string
	}{
		// The example at the top of encoding.go.
		{"Entry", Entry{Term: 2, Index: 7, Type: EntryNormal, Data: []byte("x")}, "94020700c40178"},
		{"Entry/nil Data", Entry{Term: 1, Index: 1}, "94010100c0"},
		{"Entry/empty Data", Entry{Term: 1, Index: 1, Data: []byte{}}, "94010100c400"},
		{"HardState", HardState{Term: math.MaxUint64, Vote: 300, Commit: 0}, "93cfffffffffffffffffcd012c00"},
		{"ConfState", ConfState{Voters: []uint64{1, 2}, AutoLeave: true}, "95920102c0c0c0c3"},
		{"ConfChange", ConfChange{
			Transition: ConfChangeTransitionJointImplicit,
			Changes:    []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 4}},
			Context:    []byte("c"),
		}, "93019192020" + "4c40163"},
		{"Snapshot", Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 2}, Data: []byte{0xaa}}, "929395c0c0c0c0c20502c401aa"},
		{"Message", Message{
			Type: MsgApp, To: 2, From: 1, Term: 3, LogTerm: 3, Index: 10,
			Entries: []Entry{{Term: 3, Index: 11, Data: []byte("a")}},
			Commit:  10,
		}, "9c03020103030a91940" + "30b00c401610ac0c200c0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.v.Marshal()
			require.NoError(t, err)
			assert.Equal(t, tc.hex, hex.EncodeToString(b))
		})
	}
}

// TestUnmarshalCompatibility: fields are positional, so a newer encoder may
// append fields an older decoder skips, and an older encoder's shorter array
// leaves the newer fields zero.
func TestUnmarshalCompatibility(t *testing.T) {
	var st HardState
	// [1, 2, 3, "new field", [nested, {map}]]
	require.NoError(t, st.Unmarshal(mustHex(t, "9501020"+"3a36e657792c0"+"81a16b01")))
	assert.Equal(t, HardState{Term: 1, Vote: 2, Commit: 3}, st)

	require.NoError(t, st.Unmarshal(mustHex(t, "9107")))
	assert.Equal(t, HardState{Term: 7}, st)

	require.NoError(t, st.Unmarshal(mustHex(t, "90")))
	assert.Equal(t, HardState{}, st)

	// A Message of the first six fields only.
	var m Message
	require.NoError(t, m.Unmarshal(mustHex(t, "96080201050405")))
	assert.Equal(t, Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 5, LogTerm: 4, Index: 5}, m)
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestUnmarshalErrors(t *testing.T) {
	valid, err := fullMessage().Marshal()
	require.NoError(t, err)

	cases := map[string][]byte{
		"nil input":        nil,
		"empty input":      {},
		"trailing garbage": append(append([]byte(nil), valid...), 0x00),
		"two values":       append(append([]byte(nil), valid...), valid...),
		"top-level nil":    {0xc0},
		"top-level int":    {0x01},
		"top-level map":    mustHex(t, "81a45465726d01"), // {"Term": 1}
		"top-level bin":    {0xc4, 0x00},
		"reserved 0xc1":    {0x91, 0xc1},
		"str for uint64":   mustHex(t, "9201a178"),
		"bin for uint64":   mustHex(t, "9201c40178"),
		"negative uint64":  mustHex(t, "9201ff"),
		"300 for uint8":    mustHex(t, "91cd012c"),
		"uint for bool":    mustHex(t, "9c000000000000c000c005"),
		"int for Entries":  mustHex(t, "9c00000000000005"),
		"uint for Context": mustHex(t, "9c0000000000c000c0c20007"),
		"map for Entries":  mustHex(t, "9c000000000000"+"81a16101"),
		// Hostile lengths: 4 GiB of Data or 4 billion Entries, in a few bytes.
		"huge bin":          mustHex(t, "9c0000000000c000c0c200c6ffffffff00"),
		"huge array":        mustHex(t, "9c000000000000ddffffffff9400000000"),
		"huge map":          mustHex(t, "91dfffffffff"),
		"huge str":          mustHex(t, "91dbffffffff"),
		"huge ext":          mustHex(t, "91c9ffffffff01"),
		"ext in skipped field": mustHex(t, "9401020" + "3d40101"),
		"huge array16":      mustHex(t, "dcffff00"),
		"truncated length":  mustHex(t, "91c6ffff"),
		"truncated uint64":  mustHex(t, "91cf0102"),
		"too deep":          append(bytes.Repeat([]byte{0x91}, maxDecodeDepth+1), 0x00),
		"ext for uint64":    mustHex(t, "91d40101"),
		"empty ext":         mustHex(t, "9401020" + "3c70030"),
		"float for uint64":  mustHex(t, "91ca3f800000"),
		"array for Context": mustHex(t, "9c0000000000c000c0c200910100"),
	}
	// Every proper prefix of a valid encoding is truncated.
	for n := range len(valid) {
		cases[fmt.Sprintf("truncated to %d bytes", n)] = valid[:n]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			m := fullMessage()
			err := m.Unmarshal(b)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrDecode)
			assert.Equal(t, Message{}, m, "a failed Unmarshal leaves the zero value")
		})
	}

	// The other types fail the same way.
	for name, unmarshal := range map[string]func([]byte) error{
		"Entry":      new(Entry).Unmarshal,
		"HardState":  new(HardState).Unmarshal,
		"Snapshot":   new(Snapshot).Unmarshal,
		"ConfState":  new(ConfState).Unmarshal,
		"ConfChange": new(ConfChange).Unmarshal,
	} {
		for _, b := range [][]byte{nil, {0xc0}, {0x91}, {0x91, 0xa1, 'x'}, {0x90, 0x00}} {
			err := unmarshal(b)
			assert.ErrorIs(t, err, ErrDecode, "%s.Unmarshal(%x)", name, b)
		}
	}
}

// TestUnmarshalAllocationIsBoundedByInput checks that a declared length is
// never trusted beyond the bytes that back it, and that a big []byte is
// allocated once, not grown step by step.
func TestUnmarshalAllocationIsBoundedByInput(t *testing.T) {
	hostile := [][]byte{
		mustHex(t, "9c0000000000c000c0c200c6ffffffff00"),    // 4 GiB Data
		mustHex(t, "9c000000000000ddffffffff9400000000"),    // 4G Entries
		mustHex(t, "929395ddffffffff00c0c0c0c20502c401aa"),  // 4G Voters
		mustHex(t, "9c000000000000dd000fffff"+"9400000000"), // 1M Entries
	}
	for _, b := range hostile {
		allocated := bytesAllocated(func() {
			var m Message
			require.Error(t, m.Unmarshal(b))
			var sp Snapshot
			require.Error(t, sp.Unmarshal(b))
		})
		assert.Less(t, allocated, uint64(16<<10), "input %x", b)
	}

	// 8 MiB of snapshot data costs about 8 MiB, not a multiple of it.
	big := Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}, Data: bytes.Repeat([]byte{7}, 8<<20)}
	b, err := big.Marshal()
	require.NoError(t, err)
	var sp Snapshot
	allocated := bytesAllocated(func() { require.NoError(t, sp.Unmarshal(b)) })
	assert.Less(t, allocated, uint64(9<<20))
	assert.Equal(t, big, sp)
}

// bytesAllocated returns the heap bytes f allocates.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMarshalBigValues covers the path of marshal for encodings too big for
// the pooled buffer.
func TestMarshalBigValues(t *testing.T) {
	// 8 MiB of snapshot data is allocated once, with no copy.
	big := Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}, Data: bytes.Repeat([]byte{7}, 8<<20)}
	var b []byte
	allocated := bytesAllocated(func() {
		var err error
		b, err = big.Marshal()
		require.NoError(t, err)
	})
	assert.Less(t, allocated, uint64(9<<20))
	var sp Snapshot
	require.NoError(t, sp.Unmarshal(b))
	assert.Equal(t, big, sp)

	// Many empty entries: the size bound is far above the size, so the
	// result is trimmed to fit.
	m := Message{Type: MsgApp, Entries: make([]Entry, 20000)}
	b, err := m.Marshal()
	require.NoError(t, err)
	assert.LessOrEqual(t, cap(b), len(b)+len(b)/8+64)
	var got Message
	require.NoError(t, got.Unmarshal(b))
	assert.Equal(t, m, got)

	// Small values after big ones still work (the pooled encoder was reset).
	small, err := Entry{Index: 1}.Marshal()
	require.NoError(t, err)
	assert.Equal(t, "94000100c0", hex.EncodeToString(small))
}

func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fullMessage()
			want.Index = uint64(i)
			for range 200 {
				b, err := want.Marshal()
				if !assert.NoError(t, err) {
					return
				}
				var got Message
				if !assert.NoError(t, got.Unmarshal(b)) || !assert.Equal(t, want, got) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func ExampleMessage_Marshal() {
	m := Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 4, Commit: 10}
	b, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	var got Message
	if err := got.Unmarshal(b); err != nil {
		panic(err)
	}
	fmt.Println(len(b), got.Type, got.Commit)

	err = got.Unmarshal(b[:len(b)-1])
	fmt.Println(errors.Is(err, ErrDecode))
	// Output:
	// 13 MsgHeartbeat 10
	// true
}

// ---- fuzzing ----

// fuzzUnmarshal checks, for arbitrary bytes, that Unmarshal does not panic,
// fails only with ErrDecode, and that whatever it accepts survives an encode
// and decode unchanged (and encodes the same way again).
func fuzzUnmarshal[T any](f *testing.F, c codecOf[T], seeds ...T) {
	for _, v := range seeds {
		b, err := c.marshal(v)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		if err := c.unmarshal(&v, data); err != nil {
			require.ErrorIs(t, err, ErrDecode)
			var zero T
			require.Equal(t, zero, v)
			return
		}
		b, err := c.marshal(v)
		require.NoError(t, err)
		var v2 T
		require.NoError(t, c.unmarshal(&v2, b))
		require.Equal(t, v, v2)
		b2, err := c.marshal(v2)
		require.NoError(t, err)
		require.Equal(t, b, b2)
	})
}

func FuzzUnmarshalMessage(f *testing.F) {
	fuzzUnmarshal(f, messageCodec,
		Message{}, fullMessage(),
		Message{Type: MsgApp, To: 2, From: 1, Term: math.MaxUint64, Entries: []Entry{{Index: 1}, {Data: []byte{}}}},
		Message{Type: MsgSnap, Snapshot: &Snapshot{}},
	)
}

func FuzzUnmarshalEntry(f *testing.F) {
	fuzzUnmarshal(f, entryCodec, Entry{}, Entry{Term: 1, Index: math.MaxUint64, Type: EntryConfChange, Data: []byte("x")})
}

func FuzzUnmarshalHardState(f *testing.F) {
	fuzzUnmarshal(f, hardCodec, HardState{}, HardState{Term: 5, Vote: 3, Commit: math.MaxUint64})
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	fuzzUnmarshal(f, snapCodec, Snapshot{}, *fullMessage().Snapshot)
}

func FuzzUnmarshalConfState(f *testing.F) {
	fuzzUnmarshal(f, confCodec, ConfState{}, fullMessage().Snapshot.Metadata.ConfState)
}

func FuzzUnmarshalConfChange(f *testing.F) {
	fuzzUnmarshal(f, changeCodec, ConfChange{}, ConfChange{
		Transition: ConfChangeTransitionJointExplicit,
		Changes:    []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: 1}, {Type: ConfChangeRemoveNode, NodeID: 2}},
		Context:    []byte("ctx"),
	})
}

// FuzzCheckMsgpack checks checkMsgpack against the codec, decoding any
// msgpack into interface values: what checkMsgpack accepts the codec either
// refuses or reads to the very end, and what the codec reads to the very end
// checkMsgpack accepts, unless it holds an ext type.
func FuzzCheckMsgpack(f *testing.F) {
	b, err := fullMessage().Marshal()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{0xc0})
	f.Add(mustHex(f, "82a16101a162c403010203"))
	f.Add(mustHex(f, "c800003030"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkErr := checkMsgpack(data)
		var v any
		d := codec.NewDecoderBytes(data, genericHandle)
		codecErr := d.Decode(&v)
		read := d.NumBytesRead()
		if checkErr == nil && codecErr == nil {
			require.Equal(t, len(data), read, "codec read")
		}
		if codecErr == nil && read == len(data) && checkErr != nil {
			require.ErrorIs(t, checkErr, errExtType)
		}
	})
}

// genericHandle decodes any msgpack into interface values, with the codec's
// own guards against huge lengths (MaxInitLen unset) and the same depth limit
// as msgpackHandle.
var genericHandle = &codec.MsgpackHandle{
	BasicHandle: codec.BasicHandle{DecodeOptions: codec.DecodeOptions{MaxDepth: maxDecodeDepth + 1}},
	WriteExt:    true,
}

// ---- benchmarks ----

// msgApp64 is a MsgApp carrying 64 entries of 128 bytes.
func msgApp64() Message {
	m := Message{Type: MsgApp, To: 2, From: 1, Term: 7, LogTerm: 7, Index: 1000, Commit: 990}
	for i := range 64 {
		m.Entries = append(m.Entries, Entry{Term: 7, Index: uint64(1001 + i), Data: bytes.Repeat([]byte{byte(i)}, 128)})
	}
	return m
}

func BenchmarkMarshalMessage64Entries(b *testing.B) {
	m := msgApp64()
	enc, err := m.Marshal()
	require.NoError(b, err)
	b.SetBytes(int64(len(enc)))
	b.ReportMetric(float64(len(enc)), "wire-bytes")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalMessage64Entries(b *testing.B) {
	m := msgApp64()
	enc, err := m.Marshal()
	require.NoError(b, err)
	b.SetBytes(int64(len(enc)))
	b.ReportMetric(float64(len(enc)), "wire-bytes")
	b.ReportAllocs()
	var got Message
	for b.Loop() {
		if err := got.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalEntry(b *testing.B) {
	e := Entry{Term: 7, Index: 1001, Data: bytes.Repeat([]byte{1}, 128)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalEntry(b *testing.B) {
	enc, err := Entry{Term: 7, Index: 1001, Data: bytes.Repeat([]byte{1}, 128)}.Marshal()
	require.NoError(b, err)
	b.ReportAllocs()
	var e Entry
	for b.Loop() {
		if err := e.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}
