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

// genWireUint64 favours the values where encodings change size or overflow.
var genWireUint64 = rapid.OneOf(
	rapid.Uint64(),
	rapid.SampledFrom([]uint64{
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, math.MaxUint32,
		math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64 - 1, math.MaxUint64,
	}),
)

// genWireBytes draws nil, empty, short and occasionally long slices: around
// the bin8/bin16 boundary (256 bytes) and the bin16/bin32 one (64 KiB). The
// longest are filled with one byte, since rapid draws each byte it makes.
var genWireBytes = rapid.OneOf(
	rapid.Just([]byte(nil)),
	rapid.Just([]byte{}),
	rapid.SliceOfN(rapid.Byte(), 1, 40),
	rapid.SliceOfN(rapid.Byte(), 250, 300),
	rapid.Custom(func(t *rapid.T) []byte {
		n := rapid.IntRange(1<<16-2, 1<<16+1).Draw(t, "len")
		return bytes.Repeat([]byte{rapid.Byte().Draw(t, "fill")}, n)
	}),
)

// genWireEnum draws every named value of an enum as well as arbitrary ones: the
// encoding carries unknown values unchanged.
func genWireEnum[E ~uint8](names []string) *rapid.Generator[E] {
	return rapid.Custom(func(t *rapid.T) E {
		if rapid.Bool().Draw(t, "known") {
			return E(rapid.IntRange(0, len(names)-1).Draw(t, "value"))
		}
		return E(rapid.Uint8().Draw(t, "value"))
	})
}

// genWireUint64s draws nil, empty and short slices, some around the
// fixarray/array16 boundary (16 elements).
var genWireUint64s = rapid.OneOf(
	rapid.Just([]uint64(nil)),
	rapid.Just([]uint64{}),
	rapid.SliceOfN(genWireUint64, 1, 8),
	rapid.SliceOfN(genWireUint64, 15, 17),
)

var genWireEntry = rapid.Custom(func(t *rapid.T) Entry {
	return Entry{
		Term:  genWireUint64.Draw(t, "Term"),
		Index: genWireUint64.Draw(t, "Index"),
		Type:  genWireEnum[EntryType](entryTypeNames[:]).Draw(t, "Type"),
		Data:  genWireBytes.Draw(t, "Data"),
	}
})

var genWireHardState = rapid.Custom(func(t *rapid.T) HardState {
	return HardState{
		Term:   genWireUint64.Draw(t, "Term"),
		Vote:   genWireUint64.Draw(t, "Vote"),
		Commit: genWireUint64.Draw(t, "Commit"),
	}
})

var genWireConfState = rapid.Custom(func(t *rapid.T) ConfState {
	return ConfState{
		Voters:         genWireUint64s.Draw(t, "Voters"),
		Learners:       genWireUint64s.Draw(t, "Learners"),
		VotersOutgoing: genWireUint64s.Draw(t, "VotersOutgoing"),
		LearnersNext:   genWireUint64s.Draw(t, "LearnersNext"),
		AutoLeave:      rapid.Bool().Draw(t, "AutoLeave"),
	}
})

var genWireSnapshot = rapid.Custom(func(t *rapid.T) Snapshot {
	return Snapshot{
		Metadata: SnapshotMetadata{
			ConfState: genWireConfState.Draw(t, "ConfState"),
			Index:     genWireUint64.Draw(t, "Index"),
			Term:      genWireUint64.Draw(t, "Term"),
		},
		Data: genWireBytes.Draw(t, "Data"),
	}
})

var genWireMessage = rapid.Custom(func(t *rapid.T) Message {
	return Message{
		Type:       genWireEnum[MessageType](messageTypeNames[:]).Draw(t, "Type"),
		To:         genWireUint64.Draw(t, "To"),
		From:       genWireUint64.Draw(t, "From"),
		Term:       genWireUint64.Draw(t, "Term"),
		LogTerm:    genWireUint64.Draw(t, "LogTerm"),
		Index:      genWireUint64.Draw(t, "Index"),
		Entries:    rapid.OneOf(rapid.Just([]Entry(nil)), rapid.SliceOfN(genWireEntry, 0, 5)).Draw(t, "Entries"),
		Commit:     genWireUint64.Draw(t, "Commit"),
		Snapshot:   rapid.Ptr(genWireSnapshot, true).Draw(t, "Snapshot"),
		Reject:     rapid.Bool().Draw(t, "Reject"),
		RejectHint: genWireUint64.Draw(t, "RejectHint"),
		Context:    genWireBytes.Draw(t, "Context"),
	}
})

var genWireConfChange = rapid.Custom(func(t *rapid.T) ConfChange {
	genSingle := rapid.Custom(func(t *rapid.T) ConfChangeSingle {
		return ConfChangeSingle{
			Type:   genWireEnum[ConfChangeType](confChangeTypeNames[:]).Draw(t, "Type"),
			NodeID: genWireUint64.Draw(t, "NodeID"),
		}
	})
	return ConfChange{
		Transition: genWireEnum[ConfChangeTransition](confChangeTransitionNames[:]).Draw(t, "Transition"),
		Changes:    rapid.OneOf(rapid.Just([]ConfChangeSingle(nil)), rapid.SliceOfN(genSingle, 0, 5)).Draw(t, "Changes"),
		Context:    genWireBytes.Draw(t, "Context"),
	}
})

// ---- nil/empty normalization ----
//
// The wire format does not promise to tell a nil slice from an empty one
// (see encoding.go), so round trips are compared after turning every empty
// slice into nil.

func normWireBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normWireUint64s(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normWireEntry(e Entry) Entry {
	e.Data = normWireBytes(e.Data)
	return e
}

func normWireConfState(cs ConfState) ConfState {
	cs.Voters = normWireUint64s(cs.Voters)
	cs.Learners = normWireUint64s(cs.Learners)
	cs.VotersOutgoing = normWireUint64s(cs.VotersOutgoing)
	cs.LearnersNext = normWireUint64s(cs.LearnersNext)
	return cs
}

func normWireSnapshot(sp Snapshot) Snapshot {
	sp.Metadata.ConfState = normWireConfState(sp.Metadata.ConfState)
	sp.Data = normWireBytes(sp.Data)
	return sp
}

func normWireMessage(m Message) Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	} else {
		es := make([]Entry, len(m.Entries))
		for i, e := range m.Entries {
			es[i] = normWireEntry(e)
		}
		m.Entries = es
	}
	if m.Snapshot != nil {
		sp := normWireSnapshot(*m.Snapshot)
		m.Snapshot = &sp
	}
	m.Context = normWireBytes(m.Context)
	return m
}

func normWireConfChange(cc ConfChange) ConfChange {
	if len(cc.Changes) == 0 {
		cc.Changes = nil
	}
	cc.Context = normWireBytes(cc.Context)
	return cc
}

func normWireHardState(st HardState) HardState { return st }

// ---- round trips ----

// wireCodec bundles what the generic tests need to know about one wire type.
type wireCodec[T any] struct {
	name      string
	gen       *rapid.Generator[T]
	marshal   func(T) ([]byte, error)
	unmarshal func(*T, []byte) error
	norm      func(T) T
}

func testWireRoundTrip[T any](t *testing.T, c wireCodec[T]) {
	t.Run(c.name, func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			want := c.gen.Draw(t, c.name)
			b, err := c.marshal(want)
			require.NoError(t, err)
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
	wireMessageCodec = wireCodec[Message]{
		"Message", genWireMessage, Message.Marshal, (*Message).Unmarshal,
		normWireMessage,
	}
	wireEntryCodec = wireCodec[Entry]{
		"Entry", genWireEntry, Entry.Marshal, (*Entry).Unmarshal,
		normWireEntry,
	}
	wireHardStateCodec = wireCodec[HardState]{
		"HardState", genWireHardState, HardState.Marshal, (*HardState).Unmarshal,
		normWireHardState,
	}
	wireSnapshotCodec = wireCodec[Snapshot]{
		"Snapshot", genWireSnapshot, Snapshot.Marshal, (*Snapshot).Unmarshal,
		normWireSnapshot,
	}
	wireConfStateCodec = wireCodec[ConfState]{
		"ConfState", genWireConfState, ConfState.Marshal, (*ConfState).Unmarshal,
		normWireConfState,
	}
	wireConfChangeCodec = wireCodec[ConfChange]{
		"ConfChange", genWireConfChange, ConfChange.Marshal, (*ConfChange).Unmarshal,
		normWireConfChange,
	}
)

// TestWireRoundTrip: decode(encode(x)) is x, up to nil/empty slices, and
// encode is deterministic.
func TestWireRoundTrip(t *testing.T) {
	testWireRoundTrip(t, wireMessageCodec)
	testWireRoundTrip(t, wireEntryCodec)
	testWireRoundTrip(t, wireHardStateCodec)
	testWireRoundTrip(t, wireSnapshotCodec)
	testWireRoundTrip(t, wireConfStateCodec)
	testWireRoundTrip(t, wireConfChangeCodec)
}

// fullWireMessage sets every field, nested ones included, to something non-zero.
func fullWireMessage() Message {
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

	m := fullWireMessage()
	require.NoError(t, m.Unmarshal(b))
	assert.Equal(t, small, m)

	// The same for the other types, from a full value to the zero one.
	zeroEnc := func(v interface{ Marshal() ([]byte, error) }) []byte {
		b, err := v.Marshal()
		require.NoError(t, err)
		return b
	}
	full := fullWireMessage()
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

// TestMessageUnmarshalAliasesInput: Message.Unmarshal does not copy byte
// fields (its doc says so, and what the caller must do about it), but it
// never writes into the input either, nor into the slices a reused receiver
// held before.
func TestMessageUnmarshalAliasesInput(t *testing.T) {
	want := fullWireMessage()
	b, err := want.Marshal()
	require.NoError(t, err)
	var m Message
	require.NoError(t, m.Unmarshal(b))
	require.Equal(t, want, m)
	for i := range b {
		b[i] = 0xff
	}
	assert.Equal(t, []byte{0xff, 0xff}, m.Entries[0].Data)
	assert.Equal(t, []byte{0xff, 0xff, 0xff}, m.Context)
	assert.Equal(t, bytes.Repeat([]byte{0xff}, 5), m.Snapshot.Data)

	// The slices have no spare capacity, so that appending to one copies it
	// rather than overwrite the input after it.
	require.NoError(t, m.Unmarshal(mustMarshal(t, fullWireMessage())))
	for _, s := range [][]byte{m.Entries[0].Data, m.Context, m.Snapshot.Data} {
		assert.Equal(t, len(s), cap(s))
	}

	// Decoding a copy, as the doc advises, leaves m independent of b.
	input := mustMarshal(t, fullWireMessage())
	require.NoError(t, m.Unmarshal(bytes.Clone(input)))
	clear(input)
	assert.Equal(t, fullWireMessage(), m)

	// The slices a reused receiver held before are left alone.
	old := fullWireMessage()
	oldEntries, oldContext := old.Entries, old.Context
	other := Message{Entries: []Entry{{Data: []byte("zz")}}, Context: []byte("new")}
	require.NoError(t, old.Unmarshal(mustMarshal(t, other)))
	assert.Equal(t, []byte("cc"), oldEntries[0].Data)
	assert.Equal(t, []byte("ctx"), oldContext)
}

// TestUnmarshalDoesNotShareMemory: the Unmarshal methods other than
// Message's copy what they decode.
func TestUnmarshalDoesNotShareMemory(t *testing.T) {
	full := fullWireMessage()
	b := mustMarshal(t, full.Entries[0])
	var e Entry
	require.NoError(t, e.Unmarshal(b))
	clear(b)
	assert.Equal(t, full.Entries[0], e)

	b = mustMarshal(t, *full.Snapshot)
	var sp Snapshot
	require.NoError(t, sp.Unmarshal(b))
	clear(b)
	assert.Equal(t, *full.Snapshot, sp)

	cc := ConfChange{Changes: []ConfChangeSingle{{NodeID: 1}}, Context: []byte("ctx")}
	b = mustMarshal(t, cc)
	var got ConfChange
	require.NoError(t, got.Unmarshal(b))
	clear(b)
	assert.Equal(t, cc, got)
}

func mustMarshal(t require.TestingT, v interface{ Marshal() ([]byte, error) }) []byte {
	b, err := v.Marshal()
	require.NoError(t, err)
	return b
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
	require.NoError(t, st.Unmarshal(mustDecodeHex(t, "9501020"+"3a36e657792c0"+"81a16b01")))
	assert.Equal(t, HardState{Term: 1, Vote: 2, Commit: 3}, st)

	require.NoError(t, st.Unmarshal(mustDecodeHex(t, "9107")))
	assert.Equal(t, HardState{Term: 7}, st)

	require.NoError(t, st.Unmarshal(mustDecodeHex(t, "90")))
	assert.Equal(t, HardState{}, st)

	// A Message of the first six fields only.
	var m Message
	require.NoError(t, m.Unmarshal(mustDecodeHex(t, "96080201050405")))
	assert.Equal(t, Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 5, LogTerm: 4, Index: 5}, m)
}

func mustDecodeHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestUnmarshalErrors(t *testing.T) {
	valid, err := fullWireMessage().Marshal()
	require.NoError(t, err)

	cases := map[string][]byte{
		"nil input":        nil,
		"empty input":      {},
		"trailing garbage": append(append([]byte(nil), valid...), 0x00),
		"two values":       append(append([]byte(nil), valid...), valid...),
		"top-level nil":    {0xc0},
		"top-level int":    {0x01},
		"top-level map":    mustDecodeHex(t, "81a45465726d01"), // {"Term": 1}
		"top-level bin":    {0xc4, 0x00},
		"reserved 0xc1":    {0x91, 0xc1},
		"str for uint64":   mustDecodeHex(t, "9201a178"),
		"bin for uint64":   mustDecodeHex(t, "9201c40178"),
		"negative uint64":  mustDecodeHex(t, "9201ff"),
		"300 for uint8":    mustDecodeHex(t, "91cd012c"),
		"uint for bool":    mustDecodeHex(t, "9c000000000000c000c005"),
		"int for Entries":  mustDecodeHex(t, "9c00000000000005"),
		"uint for Context": mustDecodeHex(t, "9c0000000000c000c0c20007"),
		"map for Entries":  mustDecodeHex(t, "9c000000000000"+"81a16101"),
		// Hostile lengths: 4 GiB of Data or 4 billion Entries, in a few bytes.
		"huge bin":             mustDecodeHex(t, "9c0000000000c000c0c200c6ffffffff00"),
		"huge array":           mustDecodeHex(t, "9c000000000000ddffffffff9400000000"),
		"huge map":             mustDecodeHex(t, "91dfffffffff"),
		"huge str":             mustDecodeHex(t, "91dbffffffff"),
		"huge ext":             mustDecodeHex(t, "91c9ffffffff01"),
		"ext in skipped field": mustDecodeHex(t, "9401020"+"3d40101"),
		"huge array16":         mustDecodeHex(t, "dcffff00"),
		"truncated length":     mustDecodeHex(t, "91c6ffff"),
		"truncated uint64":     mustDecodeHex(t, "91cf0102"),
		"too deep":             append(bytes.Repeat([]byte{0x91}, maxDecodeDepth+1), 0x00),
		"ext for uint64":       mustDecodeHex(t, "91d40101"),
		"empty ext":            mustDecodeHex(t, "9401020"+"3c70030"),
		"float for uint64":     mustDecodeHex(t, "91ca3f800000"),
		"array for Context":    mustDecodeHex(t, "9c0000000000c000c0c200910100"),
	}
	// Every proper prefix of a valid encoding is truncated.
	for n := range len(valid) {
		cases[fmt.Sprintf("truncated to %d bytes", n)] = valid[:n]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			m := fullWireMessage()
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
		mustDecodeHex(t, "9c0000000000c000c0c200c6ffffffff00"),    // 4 GiB Data
		mustDecodeHex(t, "9c000000000000ddffffffff9400000000"),    // 4G Entries
		mustDecodeHex(t, "929395ddffffffff00c0c0c0c20502c401aa"),  // 4G Voters
		mustDecodeHex(t, "9c000000000000dd000fffff"+"9400000000"), // 1M Entries
	}
	for _, b := range hostile {
		allocated := heapBytesAllocated(func() {
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
	allocated := heapBytesAllocated(func() { require.NoError(t, sp.Unmarshal(b)) })
	assert.Less(t, allocated, uint64(9<<20))
	assert.Equal(t, big, sp)
}

// heapBytesAllocated returns the heap bytes f allocates: the least of three
// runs, since the count is process-wide and other goroutines may allocate
// meanwhile.
func heapBytesAllocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestMarshalBigValues covers the path of marshalMsgpack for encodings too
// big for the pooled buffer.
func TestMarshalBigValues(t *testing.T) {
	// 8 MiB of snapshot data is allocated once, with no copy.
	big := Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}, Data: bytes.Repeat([]byte{7}, 8<<20)}
	var b []byte
	allocated := heapBytesAllocated(func() {
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

	// A big ConfChange takes the codec's path for encodings too big for the
	// pooled buffer.
	cc := ConfChange{Changes: []ConfChangeSingle{{NodeID: 1}}, Context: bytes.Repeat([]byte{7}, 1<<20)}
	b, err = cc.Marshal()
	require.NoError(t, err)
	var gotCC ConfChange
	require.NoError(t, gotCC.Unmarshal(b))
	assert.Equal(t, cc, gotCC)

	// Small values after big ones still work (the pooled encoder was reset).
	small, err := ConfChange{}.Marshal()
	require.NoError(t, err)
	assert.Equal(t, "9300c0c0", hex.EncodeToString(small))
}

func TestWireConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fullWireMessage()
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

// fuzzWireUnmarshal checks, for arbitrary bytes, that Unmarshal does not panic,
// fails only with ErrDecode, and that whatever it accepts survives an encode
// and decode unchanged (and encodes the same way again).
func fuzzWireUnmarshal[T any](f *testing.F, c wireCodec[T], seeds ...T) {
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
	fuzzWireUnmarshal(f, wireMessageCodec,
		Message{}, fullWireMessage(),
		Message{Type: MsgApp, To: 2, From: 1, Term: math.MaxUint64, Entries: []Entry{{Index: 1}, {Data: []byte{}}}},
		Message{Type: MsgSnap, Snapshot: &Snapshot{}},
	)
}

func FuzzUnmarshalEntry(f *testing.F) {
	fuzzWireUnmarshal(f, wireEntryCodec, Entry{}, Entry{Term: 1, Index: math.MaxUint64, Type: EntryConfChange, Data: []byte("x")})
}

func FuzzUnmarshalHardState(f *testing.F) {
	fuzzWireUnmarshal(f, wireHardStateCodec, HardState{}, HardState{Term: 5, Vote: 3, Commit: math.MaxUint64})
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	fuzzWireUnmarshal(f, wireSnapshotCodec, Snapshot{}, *fullWireMessage().Snapshot)
}

func FuzzUnmarshalConfState(f *testing.F) {
	fuzzWireUnmarshal(f, wireConfStateCodec, ConfState{}, fullWireMessage().Snapshot.Metadata.ConfState)
}

func FuzzUnmarshalConfChange(f *testing.F) {
	fuzzWireUnmarshal(f, wireConfChangeCodec, ConfChange{}, ConfChange{
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
	b, err := fullWireMessage().Marshal()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{0xc0})
	f.Add(mustDecodeHex(f, "82a16101a162c403010203"))
	f.Add(mustDecodeHex(f, "c800003030"))   // zero-length ext: the codec reads the next value with it
	f.Add(mustDecodeHex(f, "823080300000")) // repeated map key, see genericMsgpackHandle
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkErr := checkMsgpack(data)
		var v any
		d := codec.NewDecoderBytes(data, genericMsgpackHandle)
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

// genericMsgpackHandle decodes any msgpack into interface values, with the codec's
// own guards against huge lengths (MaxInitLen unset) and the same depth limit
// as msgpackHandle. The resets make every value decode afresh: by default a
// repeated map key decodes in place into the value of the first, and an
// empty map in that place swallows a byte of what follows.
var genericMsgpackHandle = newGenericMsgpackHandle()

func newGenericMsgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.MaxDepth = maxDecodeDepth + 1
	h.MapValueReset = true
	h.InterfaceReset = true
	return h
}

// ---- benchmarks ----

// wireMsgApp64 is a MsgApp carrying 64 entries of 128 bytes.
func wireMsgApp64() Message {
	m := Message{Type: MsgApp, To: 2, From: 1, Term: 7, LogTerm: 7, Index: 1000, Commit: 990}
	for i := range 64 {
		m.Entries = append(m.Entries, Entry{Term: 7, Index: uint64(1001 + i), Data: bytes.Repeat([]byte{byte(i)}, 128)})
	}
	return m
}

func BenchmarkMarshalMessage64Entries(b *testing.B) {
	m := wireMsgApp64()
	enc, err := m.Marshal()
	require.NoError(b, err)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "wire-bytes")
}

func BenchmarkUnmarshalMessage64Entries(b *testing.B) {
	m := wireMsgApp64()
	enc, err := m.Marshal()
	require.NoError(b, err)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	var got Message
	for b.Loop() {
		if err := got.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "wire-bytes")
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
