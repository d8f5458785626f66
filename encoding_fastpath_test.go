package raft

// Tests of the fast path (encoding_fastpath.go) against the codec, which is
// the reference implementation of the wire format: same bytes out, same
// values in, and a decoder that refuses hostile input cheaply.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// codecMarshal encodes v, a pointer to a wire type, with the codec.
func codecMarshal(t require.TestingT, v any) []byte {
	b, err := marshalMsgpack(v, fmt.Sprintf("%T", v), 0)
	require.NoError(t, err)
	return b
}

// codecUnmarshal decodes b into v, a pointer to the zero value of a wire
// type, with the codec (and checkMsgpack before it).
func codecUnmarshal(b []byte, v any) error {
	return unmarshalMsgpack(b, v, fmt.Sprintf("%T", v))
}

// TestFastPathMatchesCodec: for every value, the fast path writes the bytes
// the codec writes, decodes what the codec writes to the value encoded, and
// writes what the codec decodes to that value. Values are compared exactly:
// nil and empty slices come back as they went.
func TestFastPathMatchesCodec(t *testing.T) {
	testFastPathMatchesCodec(t, wireMessageCodec)
	testFastPathMatchesCodec(t, wireEntryCodec)
	testFastPathMatchesCodec(t, wireHardStateCodec)
	testFastPathMatchesCodec(t, wireSnapshotCodec)
	testFastPathMatchesCodec(t, wireConfStateCodec)
}

func testFastPathMatchesCodec[T any](t *testing.T, c wireCodec[T]) {
	t.Run(c.name, func(t *testing.T) {
		var zero T
		checkFastPathMatchesCodec(t, c, zero)
		rapid.Check(t, func(t *rapid.T) {
			checkFastPathMatchesCodec(t, c, c.gen.Draw(t, c.name))
		})
	})
}

func checkFastPathMatchesCodec[T any](t require.TestingT, c wireCodec[T], want T) {
	fast, err := c.marshal(want)
	require.NoError(t, err)
	ref := codecMarshal(t, &want)
	if !bytes.Equal(ref, fast) {
		t.Errorf("encodings differ\ncodec: %x\nfast:  %x", ref, fast)
		t.FailNow()
	}
	var got T
	require.NoError(t, c.unmarshal(&got, ref))
	require.Equal(t, want, got, "fast path decoding the codec's bytes")
	var viaCodec T
	require.NoError(t, codecUnmarshal(fast, &viaCodec))
	require.Equal(t, want, viaCodec, "codec decoding the fast path's bytes")
}

// TestFastPathLengthBoundaries covers the lengths where msgpack headers
// change size, too long for the generators to draw often: fixarray, array16
// and array32; bin8, bin16 and bin32.
func TestFastPathLengthBoundaries(t *testing.T) {
	for _, n := range []int{0, 15, 16, 255, 256, 1<<16 - 1, 1 << 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := bytes.Repeat([]byte{0xab}, n)
			ids := make([]uint64, n)
			for i := range ids {
				ids[i] = uint64(i)
			}
			m := Message{
				Type: MsgSnap, Entries: make([]Entry, n), Context: data,
				Snapshot: &Snapshot{Metadata: SnapshotMetadata{ConfState: ConfState{Voters: ids}}, Data: data},
			}
			fast, err := m.Marshal()
			require.NoError(t, err)
			require.True(t, bytes.Equal(codecMarshal(t, &m), fast), "encodings differ")
			var got Message
			require.NoError(t, got.Unmarshal(fast))
			require.Equal(t, m, got)
		})
	}
}

// TestAppendMarshal: AppendMarshal appends what Marshal returns, and
// allocates nothing when the buffer has room.
func TestAppendMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "prefix")
		m := genWireMessage.Draw(t, "Message")
		got, err := m.AppendMarshal(bytes.Clone(prefix))
		require.NoError(t, err)
		require.Equal(t, append(bytes.Clone(prefix), mustMarshal(t, m)...), got)

		e := genWireEntry.Draw(t, "Entry")
		got, err = e.AppendMarshal(bytes.Clone(prefix))
		require.NoError(t, err)
		require.Equal(t, append(bytes.Clone(prefix), mustMarshal(t, e)...), got)
	})

	m := wireMsgApp64()
	buf := make([]byte, 0, 16<<10)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = m.AppendMarshal(buf[:0]); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs, "AppendMarshal into a buffer with room")
}

// TestFastPathTruncated: every proper prefix of an encoding is refused with
// ErrDecode, leaving the zero value, and never panics.
func TestFastPathTruncated(t *testing.T) {
	testFastPathTruncated(t, wireMessageCodec)
	testFastPathTruncated(t, wireEntryCodec)
	testFastPathTruncated(t, wireHardStateCodec)
	testFastPathTruncated(t, wireSnapshotCodec)
	testFastPathTruncated(t, wireConfStateCodec)

	// All of the W5 message, of about 9 KB.
	b := mustMarshal(t, wireMsgApp64())
	for n := range len(b) {
		var m Message
		err := m.Unmarshal(b[:n])
		require.ErrorIs(t, err, ErrDecode, "prefix of %d bytes", n)
		require.Zero(t, m)
	}
}

func testFastPathTruncated[T any](t *testing.T, c wireCodec[T]) {
	t.Run(c.name, func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			b, err := c.marshal(c.gen.Draw(t, c.name))
			require.NoError(t, err)
			for n := range len(b) {
				// The middle of a long bin is one case many times over.
				if n > 512 && n < len(b)-512 && n%251 != 0 {
					continue
				}
				var v T
				err := c.unmarshal(&v, b[:n])
				require.ErrorIs(t, err, ErrDecode, "prefix of %d bytes", n)
				var zero T
				require.Equal(t, zero, v)
			}
		})
	})
}

// TestFastPathHostileLengths: a header that declares far more than the
// input holds is refused before anything is allocated for it.
func TestFastPathHostileLengths(t *testing.T) {
	for name, in := range map[string]struct {
		hex       string
		unmarshal func([]byte) error
	}{
		// 4 GiB worth of entries in 12 bytes: 7 fields, the last Entries.
		"Message 4G entries":     {"97000000000000ddffffffff", new(Message).Unmarshal},
		"Message 64K entries":    {"97000000000000dcffff940000", new(Message).Unmarshal},
		"Message 4 GiB Context":  {"9c000000000000c000c0c200c6ffffffff", new(Message).Unmarshal},
		"Message 4 GiB snapshot": {"99000000000000c00092" + "93" + "95c0c0c0c0c2" + "0000" + "c6ffffffff00", new(Message).Unmarshal},
		"Entry 4 GiB Data":       {"94000000c6ffffffff", new(Entry).Unmarshal},
		"ConfState 4G voters":    {"95ddffffffff", new(ConfState).Unmarshal},
		"Snapshot 4G learners":   {"929395c0ddffffffff01", new(Snapshot).Unmarshal},
		"HardState 4G fields":    {"ddffffffff00", new(HardState).Unmarshal},
	} {
		t.Run(name, func(t *testing.T) {
			b := mustDecodeHex(t, in.hex)
			allocated := heapBytesAllocated(func() {
				require.ErrorIs(t, in.unmarshal(b), ErrDecode)
			})
			assert.Less(t, allocated, uint64(4<<10))
		})
	}
}

// TestMessageUnmarshalAllocations: decoding an append allocates once, for
// its entries, however many it carries: their Data alias the input.
func TestMessageUnmarshalAllocations(t *testing.T) {
	allocs := func(v interface{ Unmarshal([]byte) error }, b []byte) float64 {
		return testing.AllocsPerRun(100, func() {
			if err := v.Unmarshal(b); err != nil {
				panic(err)
			}
		})
	}
	app := func(n int) []byte {
		m := wireMsgApp64()
		m.Entries = m.Entries[:n]
		return mustMarshal(t, m)
	}
	var m Message
	assert.Equal(t, 1.0, allocs(&m, app(1)), "MsgApp with 1 entry")
	assert.Equal(t, 1.0, allocs(&m, app(64)), "MsgApp with 64 entries")
	heartbeat := mustMarshal(t, Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 5, Commit: 10, Context: []byte("ctx")})
	assert.Zero(t, allocs(&m, heartbeat), "MsgHeartbeat")
	var st HardState
	assert.Zero(t, allocs(&st, mustMarshal(t, HardState{Term: 1, Vote: 2, Commit: 3})), "HardState")

	m64 := wireMsgApp64()
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() {
		if _, err := m64.Marshal(); err != nil {
			panic(err)
		}
	}), "Marshal")
}

// intForms returns every msgpack encoding of v: positive fixint, the
// unsigned types and the signed types wide enough to hold it.
func intForms(v uint64) [][]byte {
	var forms [][]byte
	if v <= mpPosFixIntMax {
		forms = append(forms, []byte{byte(v)})
	}
	for i, typ := range []byte{mpUint8, mpUint16, mpUint32, mpUint64} {
		if size := 1 << i; size == 8 || v < 1<<(8*size) {
			forms = append(forms, binary.BigEndian.AppendUint64(nil, v)[8-size:])
			forms[len(forms)-1] = append([]byte{typ}, forms[len(forms)-1]...)
		}
	}
	for i, typ := range []byte{mpInt8, mpInt16, mpInt32, mpInt64} {
		if size := 1 << i; v < 1<<(8*size-1) {
			forms = append(forms, append([]byte{typ}, binary.BigEndian.AppendUint64(nil, v)[8-size:]...))
		}
	}
	return forms
}

// TestFastPathIntegerWidths: an integer field takes any msgpack integer
// form of its value, as the codec does, and refuses negative values and
// values out of the field's range, as the codec does.
func TestFastPathIntegerWidths(t *testing.T) {
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64} {
		for _, form := range intForms(v) {
			// Term and Index are uint64; Type is a uint8 enum.
			for field := range 3 {
				fields := [][]byte{{0x01}, {0x02}, {0x00}}
				fields[field] = form
				b := append([]byte{0x94}, bytes.Join(fields, nil)...)
				b = append(b, mpNil)
				var fast, ref Entry
				fastErr, refErr := fast.Unmarshal(b), codecUnmarshal(b, &ref)
				if field == 2 && v > math.MaxUint8 {
					assert.ErrorIs(t, fastErr, ErrDecode, "%x", b)
					assert.Error(t, refErr, "%x", b)
					continue
				}
				require.NoError(t, fastErr, "%x", b)
				require.NoError(t, refErr, "%x", b)
				assert.Equal(t, ref, fast, "%x", b)
			}
		}
	}
	for _, neg := range []string{"ff", "e0", "d0ff", "d080", "d1ffff", "d2ffffffff", "d3ffffffffffffffff", "d38000000000000000"} {
		b := mustDecodeHex(t, "94"+neg+"0100c0")
		var fast, ref Entry
		assert.ErrorIs(t, fast.Unmarshal(b), ErrDecode, neg)
		assert.Error(t, codecUnmarshal(b, &ref), neg)
	}
}

// TestFastPathStricterThanCodec pins what the fast path refuses although the
// codec reads it (see the table at the top of encoding_fastpath.go): types
// that no encoder of this format writes in these places.
func TestFastPathStricterThanCodec(t *testing.T) {
	for name, in := range map[string]struct {
		hex string
		v   func() interface{ Unmarshal([]byte) error }
	}{
		"nil for uint64":     {"94c00100c0", func() interface{ Unmarshal([]byte) error } { return new(Entry) }},
		"nil for enum":       {"940101c0c0", func() interface{ Unmarshal([]byte) error } { return new(Entry) }},
		"str for []byte":     {"94010100a178", func() interface{ Unmarshal([]byte) error } { return new(Entry) }},
		"array for []byte":   {"94010100920102", func() interface{ Unmarshal([]byte) error } { return new(Entry) }},
		"int for bool":       {"95c0c0c0c001", func() interface{ Unmarshal([]byte) error } { return new(ConfState) }},
		"nil for bool":       {"95c0c0c0c0c0", func() interface{ Unmarshal([]byte) error } { return new(ConfState) }},
		"nil for struct":     {"92c0c0", func() interface{ Unmarshal([]byte) error } { return new(Snapshot) }},
		"map for struct":     {"9281a4446174610ac0", func() interface{ Unmarshal([]byte) error } { return new(Snapshot) }},
		"nil for Entry":      {"97000000000000" + "91c0", func() interface{ Unmarshal([]byte) error } { return new(Message) }},
		"map for top struct": {"81a45465726d01", func() interface{ Unmarshal([]byte) error } { return new(HardState) }},
	} {
		t.Run(name, func(t *testing.T) {
			b := mustDecodeHex(t, in.hex)
			assert.ErrorIs(t, in.v().Unmarshal(b), ErrDecode)
			// The codec's own reading, without the top-level check of
			// unmarshalMsgpack (which refuses a top-level map as well).
			v := in.v()
			assert.NoError(t, codecDecodeOnly(b, v), "the codec takes it")
		})
	}
}

// codecDecodeOnly decodes b into v with checkMsgpack and the codec alone.
func codecDecodeOnly(b []byte, v any) error {
	if err := checkMsgpack(b); err != nil {
		return err
	}
	return codec.NewDecoderBytes(b, msgpackHandle).Decode(v)
}

// FuzzFastPathAgainstCodec decodes arbitrary bytes as each type with a fast
// path, with both the fast path and the codec. Either both accept and agree
// on the value, or the fast path refuses (with ErrDecode, leaving the zero
// value). In the second case, if the codec accepts, the input is not how
// the format writes what the codec read, and the fast path does accept that
// encoding, with the codec's value: it is stricter only about forms that no
// encoder writes.
func FuzzFastPathAgainstCodec(f *testing.F) {
	for _, seed := range []any{
		fullWireMessage(), Message{}, Message{Snapshot: &Snapshot{}},
		Message{Entries: []Entry{}, Context: []byte{}},
		Entry{Term: math.MaxUint64, Index: 300, Type: EntryConfChange, Data: []byte("x")},
		HardState{Term: 1, Vote: 0x80, Commit: math.MaxUint32 + 1},
		*fullWireMessage().Snapshot,
		ConfState{Voters: make([]uint64, 16), LearnersNext: []uint64{}},
	} {
		f.Add(codecMarshal(f, &seed))
	}
	for _, h := range []string{
		"94d001d10001d200000000c0",               // signed widths
		"94cf0000000000000001cd0001cc05c5000178", // wide widths, bin16
		"dc000401020300",                         // array16 for a short array
		"9501020304c0c0",                         // extra fields
		"9107", "90",                             // missing fields
		"94010100a178",               // str for []byte
		"95c0c0c0c001",               // int for bool
		"929395c0dd00000001010000c0", // array32 for Voters
	} {
		f.Add(mustDecodeHex(f, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareFastPathWithCodec(t, data, (*Message).Unmarshal)
		compareFastPathWithCodec(t, data, (*Entry).Unmarshal)
		compareFastPathWithCodec(t, data, (*HardState).Unmarshal)
		compareFastPathWithCodec(t, data, (*Snapshot).Unmarshal)
		compareFastPathWithCodec(t, data, (*ConfState).Unmarshal)
	})
}

func compareFastPathWithCodec[T any](t *testing.T, data []byte, unmarshal func(*T, []byte) error) {
	var fast, ref, zero T
	fastErr := unmarshal(&fast, data)
	refErr := codecUnmarshal(data, &ref)
	if fastErr == nil {
		require.NoError(t, refErr, "the fast path accepts %x as %T, the codec does not", data, fast)
		require.Equal(t, ref, fast, "%x as %T", data, fast)
		return
	}
	require.ErrorIs(t, fastErr, ErrDecode)
	require.Equal(t, zero, fast)
	if refErr != nil {
		return
	}
	canonical := codecMarshal(t, &ref)
	require.NotEqual(t, hex.EncodeToString(canonical), hex.EncodeToString(data),
		"the fast path refuses the encoding of a %T: %v", fast, fastErr)
	var again T
	require.NoError(t, unmarshal(&again, canonical))
	require.Equal(t, ref, again)
}

func ExampleMessage_AppendMarshal() {
	// A sender frames each message with its length, and encodes message
	// after message into one buffer.
	msgs := []Message{
		{Type: MsgHeartbeat, To: 2, From: 1, Term: 4, Commit: 7},
		{Type: MsgApp, To: 2, From: 1, Term: 4, LogTerm: 4, Index: 7, Commit: 7,
			Entries: []Entry{{Term: 4, Index: 8, Data: []byte("x")}}},
	}
	var buf []byte
	for _, m := range msgs {
		buf = append(buf[:0], 0, 0, 0, 0)
		var err error
		if buf, err = m.AppendMarshal(buf); err != nil {
			panic(err)
		}
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		fmt.Printf("%x\n", buf) // conn.Write(buf)
	}

	// The receiver reads each frame into a buffer of its own: the decoded
	// message aliases it.
	frame := bytes.Clone(buf[4:])
	var m Message
	if err := m.Unmarshal(frame); err != nil {
		panic(err)
	}
	fmt.Println(m.Type, m.Entries[0].Index, string(m.Entries[0].Data))
	// Output:
	// 0000000d9c080201040000c007c0c200c0
	// 000000149c0302010404079194040800c4017807c0c200c0
	// MsgApp 8 x
}
