package store

// Tests of the hand-written codec of Command (command_codec.go) against
// go-msgpack with mpHandle, which wrote every Command before it and stays
// the reference: same bytes out, same Command in, and hostile input
// refused cheaply.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"testing"

	"github.com/keelraft/raft/example/kv/internal/msgp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// codecMarshal encodes c with go-msgpack, as Command.Marshal did before.
func codecMarshal(t require.TestingT, c Command) []byte {
	b, err := encode(&c, "Command")
	require.NoError(t, err)
	return b
}

// codecUnmarshal decodes b with go-msgpack, as Command.Unmarshal did
// before.
func codecUnmarshal(b []byte) (Command, error) {
	var c Command
	err := decode(b, &c, "Command")
	return c, err
}

func mustDecodeHex(t require.TestingT, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// genCommand draws any Command, with a nil or empty Value now and then.
var genCommand = rapid.Custom(func(t *rapid.T) Command {
	c := Command{
		Op:            Op(rapid.Uint8().Draw(t, "Op")),
		Key:           string(rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "Key")),
		Cond:          rapid.Bool().Draw(t, "Cond"),
		IfModRevision: rapid.Int64().Draw(t, "IfModRevision"),
		Session:       rapid.Uint64().Draw(t, "Session"),
		Seq:           rapid.Uint64().Draw(t, "Seq"),
		SessionTTL:    rapid.Int64().Draw(t, "SessionTTL"),
		Time:          rapid.Int64().Draw(t, "Time"),
		RequestID:     rapid.Uint64().Draw(t, "RequestID"),
	}
	if !rapid.Bool().Draw(t, "nil Value") {
		c.Value = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "Value")
	}
	return c
})

// checkMatchesCodec: Marshal writes the bytes go-msgpack writes, and each
// decoder reads the other's bytes back to c exactly, a nil Value as nil and
// an empty one as empty.
func checkMatchesCodec(t require.TestingT, c Command) {
	ours, err := c.Marshal()
	require.NoError(t, err)
	ref := codecMarshal(t, c)
	if !bytes.Equal(ref, ours) {
		require.Fail(t, "encodings differ", "go-msgpack: %x\nMarshal:    %x", ref, ours)
	}
	var got Command
	require.NoError(t, got.Unmarshal(ref))
	require.Equal(t, c, got, "Unmarshal of go-msgpack's bytes")
	viaCodec, err := codecUnmarshal(ours)
	require.NoError(t, err)
	require.Equal(t, c, viaCodec, "go-msgpack decoding Marshal's bytes")
}

// intBoundaries are the int64 values where go-msgpack changes form.
var intBoundaries = []int64{
	0, 1, -1, 31, -32, -33, 127, 128, -128, -129, 255, 256,
	math.MaxInt16, math.MaxInt16 + 1, math.MinInt16, math.MinInt16 - 1, math.MaxUint16, math.MaxUint16 + 1,
	math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxUint32, math.MaxUint32 + 1,
	math.MaxInt64, math.MinInt64,
}

// uintBoundaries are the uint64 values where go-msgpack changes form.
var uintBoundaries = []uint64{
	0, 1, 127, 128, 255, 256, math.MaxUint16, math.MaxUint16 + 1,
	math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64,
}

// lengthBoundaries are the lengths where a str or bin header changes form.
var lengthBoundaries = []int{0, 1, 31, 32, 255, 256, math.MaxUint16, math.MaxUint16 + 1}

func TestCommandMatchesCodec(t *testing.T) {
	cases := map[string]Command{
		"zero":      {},
		"nil Value": {Op: OpPut, Key: "k"},
		"empty Value": {
			Op: OpPut, Key: "k", Value: []byte{},
		},
		"every field": {
			Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, IfModRevision: 7,
			Session: 3, Seq: 9, SessionTTL: int64(60e9), Time: 1_700_000_000_000_000_000, RequestID: math.MaxUint64,
		},
		"Cond false": {Op: OpDelete, Key: "k", IfModRevision: 5},
		"Op 0":       {Op: 0},
		"Op 255":     {Op: 255},
	}
	for _, op := range []Op{OpPut, OpDelete, OpOpenSession, OpCloseSession} {
		cases["op "+op.String()] = Command{Op: op, Key: "k", Cond: true}
	}
	for _, v := range intBoundaries {
		cases[fmt.Sprintf("int64 %d", v)] = Command{IfModRevision: v, SessionTTL: v, Time: v}
	}
	for _, v := range uintBoundaries {
		cases[fmt.Sprintf("uint64 %d", v)] = Command{Session: v, Seq: v, RequestID: v}
		if v <= math.MaxUint8 {
			cases[fmt.Sprintf("Op %d", v)] = Command{Op: Op(v)}
		}
	}
	for _, n := range lengthBoundaries {
		cases[fmt.Sprintf("Key of %d bytes", n)] = Command{Op: OpPut, Key: string(bytes.Repeat([]byte{'k'}, n))}
		cases[fmt.Sprintf("Value of %d bytes", n)] = Command{Op: OpPut, Value: bytes.Repeat([]byte{0xab}, n)}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { checkMatchesCodec(t, c) })
	}
	t.Run("random", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) { checkMatchesCodec(t, genCommand.Draw(t, "Command")) })
	})
}

// zeroFields are the encodings of the fields of the zero Command.
func zeroFields() [][]byte {
	return [][]byte{{0x00}, {msgp.FixStrMin}, {msgp.Nil}, {msgp.False}, {0x00}, {0x00}, {0x00}, {0x00}, {0x00}, {0x00}}
}

// commandArray encodes fields as an array, with a fixarray header.
func commandArray(fields [][]byte) []byte {
	return append([]byte{msgp.FixArrayMin | byte(len(fields))}, bytes.Join(fields, nil)...)
}

// nilFields are ten nils, a Command with every field nil.
func nilFields() [][]byte {
	fields := make([][]byte, commandFields)
	for i := range fields {
		fields[i] = []byte{msgp.Nil}
	}
	return fields
}

// withField is the encoding of the zero Command with field i replaced by v.
func withField(i int, v []byte) []byte {
	fields := zeroFields()
	fields[i] = v
	return commandArray(fields)
}

// decodeBoth decodes b with Unmarshal and with go-msgpack.
func decodeBoth(b []byte) (ours Command, oursErr error, ref Command, refErr error) {
	oursErr = ours.Unmarshal(b)
	ref, refErr = codecUnmarshal(b)
	return ours, oursErr, ref, refErr
}

// intForms returns every msgpack encoding of v: fixint, and each signed and
// unsigned type that holds it.
func intForms(v int64) [][]byte {
	var forms [][]byte
	if v >= -32 && v <= msgp.PosFixIntMax {
		forms = append(forms, []byte{byte(v)})
	}
	for i, size := range []int{1, 2, 4, 8} {
		shift := 64 - 8*size
		if v<<shift>>shift == v {
			forms = append(forms, append([]byte{msgp.Int8 + byte(i)}, binary.BigEndian.AppendUint64(nil, uint64(v))[8-size:]...))
		}
		if v >= 0 && (size == 8 || uint64(v) < 1<<(8*size)) {
			forms = append(forms, append([]byte{msgp.Uint8 + byte(i)}, binary.BigEndian.AppendUint64(nil, uint64(v))[8-size:]...))
		}
	}
	return forms
}

// TestCommandIntegerForms: an integer field takes any msgpack integer form
// of its value, as go-msgpack does, and refuses what does not fit it: a
// negative value for an unsigned field, above 255 for Op. The one
// difference: go-msgpack wraps a uint64 above MaxInt64 in a signed field
// to a negative value, Unmarshal refuses it.
func TestCommandIntegerForms(t *testing.T) {
	const (
		op, ifMod, session, seq, ttl, clock, requestID = 0, 4, 5, 6, 7, 8, 9
	)
	signed := map[int]bool{ifMod: true, ttl: true, clock: true}
	type value struct {
		forms    [][]byte
		negative bool
		big      uint64 // the value, if not negative
	}
	var values []value
	for _, v := range intBoundaries {
		values = append(values, value{forms: intForms(v), negative: v < 0, big: uint64(v)})
	}
	for _, v := range []uint64{math.MaxInt64 + 1, math.MaxUint64} {
		values = append(values, value{forms: [][]byte{binary.BigEndian.AppendUint64([]byte{msgp.Uint64}, v)}, big: v})
	}
	for _, v := range values {
		for _, form := range v.forms {
			for _, field := range []int{op, ifMod, session, seq, ttl, clock, requestID} {
				b := withField(field, form)
				ours, oursErr, ref, refErr := decodeBoth(b)
				var fits bool
				switch {
				case signed[field]:
					fits = v.negative || v.big <= math.MaxInt64
				case field == op:
					fits = !v.negative && v.big <= math.MaxUint8
				default:
					fits = !v.negative
				}
				if !fits {
					assert.ErrorIs(t, oursErr, ErrDecode, "%x", b)
					if !signed[field] {
						assert.Error(t, refErr, "%x", b)
					} else {
						assert.NoError(t, refErr, "%x: go-msgpack wraps it", b)
					}
					continue
				}
				require.NoError(t, oursErr, "%x", b)
				require.NoError(t, refErr, "%x", b)
				assert.Equal(t, ref, ours, "%x", b)
			}
		}
	}
}

// TestCommandLiberalForms: forms no encoder of this format writes but
// go-msgpack reads, which Unmarshal reads the same way.
func TestCommandLiberalForms(t *testing.T) {
	full := commandArray([][]byte{{0x01}, {0xa1, 'k'}, {msgp.Bin8, 1, 'v'}, {msgp.True}, {0x07}, {0x03}, {0x09}, {0x0a}, {0x0b}, {0x0c}})
	want := Command{Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, IfModRevision: 7, Session: 3, Seq: 9, SessionTTL: 10, Time: 11, RequestID: 12}
	cases := map[string]struct {
		in   []byte
		want Command
	}{
		"canonical":            {full, want},
		"array16 header":       {append([]byte{msgp.Array16, 0, 10}, full[1:]...), want},
		"array32 header":       {append([]byte{msgp.Array32, 0, 0, 0, 10}, full[1:]...), want},
		"Cond as fixint 1":     {withField(3, []byte{0x01}), Command{Cond: true}},
		"Cond as fixint 0":     {withField(3, []byte{0x00}), Command{}},
		"Key as bin":           {withField(1, []byte{msgp.Bin8, 1, 'k'}), Command{Key: "k"}},
		"Key as str8":          {withField(1, []byte{msgp.Str8, 1, 'k'}), Command{Key: "k"}},
		"Key as str32":         {withField(1, []byte{msgp.Str32, 0, 0, 0, 1, 'k'}), Command{Key: "k"}},
		"Value as fixstr":      {withField(2, []byte{0xa1, 'v'}), Command{Value: []byte("v")}},
		"Value as str16":       {withField(2, []byte{msgp.Str16, 0, 1, 'v'}), Command{Value: []byte("v")}},
		"Value as empty str":   {withField(2, []byte{msgp.FixStrMin}), Command{Value: []byte{}}},
		"Value as bin32":       {withField(2, []byte{msgp.Bin32, 0, 0, 0, 1, 'v'}), Command{Value: []byte("v")}},
		"Value as empty bin32": {withField(2, []byte{msgp.Bin32, 0, 0, 0, 0}), Command{Value: []byte{}}},
		"Key as empty bin":     {withField(1, []byte{msgp.Bin8, 0}), Command{}},
		"empty array":          {[]byte{msgp.FixArrayMin}, Command{}},
		"every field nil":      {commandArray(nilFields()), Command{}},
		"Op nil":               {withField(0, []byte{msgp.Nil}), Command{}},
		"IfModRevision nil":    {withField(4, []byte{msgp.Nil}), Command{}},
		"RequestID nil":        {withField(9, []byte{msgp.Nil}), Command{}},
		"Key nil, Cond nil":    {commandArray(append([][]byte{{0x02}, {msgp.Nil}, {msgp.Nil}, {msgp.Nil}}, zeroFields()[4:]...)), Command{Op: OpDelete}},
		"Time -1 as int64":     {withField(8, []byte{msgp.Int64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), Command{Time: -1}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ours, oursErr, ref, refErr := decodeBoth(tc.in)
			require.NoError(t, oursErr)
			require.NoError(t, refErr)
			require.Equal(t, tc.want, ours)
			require.Equal(t, ref, ours)
		})
	}
}

// TestCommandStricterThanCodec pins what Unmarshal refuses although
// go-msgpack reads it (the table at the top of command_codec.go): forms no
// encoder of this format writes.
func TestCommandStricterThanCodec(t *testing.T) {
	for name, in := range map[string][]byte{
		"array of ints for Key":    withField(1, []byte{0x92, 'k', 'k'}),
		"array of ints for Value":  withField(2, []byte{0x91, 'v'}),
		"uint64 max for Time":      withField(8, binary.BigEndian.AppendUint64([]byte{msgp.Uint64}, math.MaxUint64)),
		"uint64 2^63 for TTL":      withField(7, binary.BigEndian.AppendUint64([]byte{msgp.Uint64}, 1<<63)),
		"fixext in a new field":    commandArray(append(zeroFields(), []byte{0xd4, 0x01, 0x00})),
		"ext8 in a new field":      commandArray(append(zeroFields(), []byte{0xc7, 0x01, 0x05, 0x00})),
		"ext in a new field array": commandArray(append(zeroFields(), []byte{0x91, 0xd4, 0x01, 0x00})),
	} {
		t.Run(name, func(t *testing.T) {
			var c Command
			assert.ErrorIs(t, c.Unmarshal(in), ErrDecode)
			assert.Zero(t, c)
			_, err := codecUnmarshal(in)
			assert.NoError(t, err, "go-msgpack takes %x", in)
		})
	}
}

// TestCommandFewerFields: an array shorter than ten fields, written before
// the last fields existed, leaves them zero, as go-msgpack does.
func TestCommandFewerFields(t *testing.T) {
	full := Command{
		Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, IfModRevision: -7,
		Session: 300, Seq: 70000, SessionTTL: 1 << 40, Time: -1 << 40, RequestID: math.MaxUint64,
	}
	fields := splitFields(t, full)
	for n := range commandFields + 1 {
		b := commandArray(fields[:n])
		ours, oursErr, ref, refErr := decodeBoth(b)
		require.NoError(t, oursErr, "%d fields", n)
		require.NoError(t, refErr, "%d fields", n)
		require.Equal(t, ref, ours, "%d fields", n)
		want := full
		clearFieldsFrom(&want, n)
		require.Equal(t, want, ours, "%d fields", n)
	}
}

// splitFields returns the encodings of c's fields, read with Unmarshal's
// own reader so that the test does not depend on one more parser.
func splitFields(t require.TestingT, c Command) [][]byte {
	b, err := c.Marshal()
	require.NoError(t, err)
	r := msgp.NewReader(b, commandDepth)
	n := r.ReadArrayLen()
	var fields [][]byte
	for range n {
		start := r.Offset()
		r.Skip(1)
		fields = append(fields, b[start:r.Offset()])
	}
	require.NoError(t, r.Finish())
	require.Len(t, fields, commandFields)
	return fields
}

// clearFieldsFrom zeroes the fields of c from position n on.
func clearFieldsFrom(c *Command, n int) {
	zero := []func(){
		func() { c.Op = 0 }, func() { c.Key = "" }, func() { c.Value = nil }, func() { c.Cond = false },
		func() { c.IfModRevision = 0 }, func() { c.Session = 0 }, func() { c.Seq = 0 },
		func() { c.SessionTTL = 0 }, func() { c.Time = 0 }, func() { c.RequestID = 0 },
	}
	for _, f := range zero[n:] {
		f()
	}
}

// TestCommandMoreFields: values past the tenth, fields appended by a newer
// version, are skipped whatever their type, as go-msgpack skips them.
func TestCommandMoreFields(t *testing.T) {
	full := Command{Op: OpPut, Key: "k", Value: []byte("v"), Seq: 2, RequestID: 9}
	extras := map[string]struct {
		hex    string
		values int
	}{
		"fixint":       {"05", 1},
		"negative":     {"e0", 1},
		"int64":        {"d3ffffffffffffffff", 1},
		"uint64":       {"cfffffffffffffffff", 1},
		"float32":      {"ca3f800000", 1},
		"float64":      {"cb3ff0000000000000", 1},
		"nil":          {"c0", 1},
		"bool":         {"c3", 1},
		"fixstr":       {"a3616263", 1},
		"str8":         {"d903616263", 1},
		"bin16":        {"c50003616263", 1},
		"array":        {"93010203", 1},
		"array16":      {"dc0002a0c0", 1},
		"map":          {"82a16101a16292c0c3", 1},
		"map32":        {"df0000000101c0", 1},
		"nested":       {"91919190", 1},
		"two fields":   {"0102", 2},
		"three fields": {"c0a0c400", 3},
	}
	for name, extra := range extras {
		t.Run(name, func(t *testing.T) {
			fields := splitFields(t, full)
			b := append([]byte{msgp.FixArrayMin | byte(commandFields+extra.values)}, bytes.Join(fields, nil)...)
			b = append(b, mustDecodeHex(t, extra.hex)...)
			ours, oursErr, ref, refErr := decodeBoth(b)
			require.NoError(t, refErr, "%x", b)
			require.NoError(t, oursErr, "%x", b)
			require.Equal(t, full, ours)
			require.Equal(t, ref, ours)
		})
	}
}

// TestCommandNestingDepth: a new field may nest containers, up to the depth
// go-msgpack allows with mpHandle; both refuse one nested deeper, empty or
// not.
func TestCommandNestingDepth(t *testing.T) {
	for _, inner := range []string{"90", "80", "9101"} {
		for level := 2; level <= mpMaxDepth+2; level++ {
			// level-1 arrays around inner, which is at level `level`.
			extra := append(bytes.Repeat([]byte{0x91}, level-2), mustDecodeHex(t, inner)...)
			b := commandArray(append(zeroFields(), extra))
			ours, oursErr, _, refErr := decodeBoth(b)
			if level < mpMaxDepth {
				require.NoError(t, oursErr, "%x", b)
				require.NoError(t, refErr, "%x", b)
				require.Zero(t, ours)
				continue
			}
			require.ErrorIs(t, oursErr, ErrDecode, "%x", b)
			require.Error(t, refErr, "%x", b)
		}
	}
}

// TestCommandTruncated: every proper prefix of an encoding is refused with
// ErrDecode, leaving the zero Command.
func TestCommandTruncated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := genCommand.Draw(t, "Command").Marshal()
		require.NoError(t, err)
		for n := range len(b) {
			c := Command{Op: OpPut, Key: "stale"}
			require.ErrorIs(t, c.Unmarshal(b[:n]), ErrDecode, "prefix of %d bytes", n)
			require.Zero(t, c)
		}
	})
}

// TestCommandHostileLengths: a header that declares far more than the
// input holds is refused before anything is allocated for it.
func TestCommandHostileLengths(t *testing.T) {
	for name, h := range map[string]string{
		"4 GiB Value":        "9a00a0c6ffffffff00",
		"4 GiB Key":          "9a00dbffffffff00",
		"64 KiB Key":         "9a00daffff00",
		"4G fields":          "ddffffffff0000",
		"4G-entry new field": "9b00a0c0c2000000000000ddffffffff00",
		"4G-pair new field":  "9b00a0c0c2000000000000dfffffffff00",
		"4 GiB new bin":      "9b00a0c0c2000000000000c6ffffffff00",
	} {
		t.Run(name, func(t *testing.T) {
			b := mustDecodeHex(t, h)
			var err error
			allocated := heapBytesAllocated(func() { err = new(Command).Unmarshal(b) })
			require.ErrorIs(t, err, ErrDecode)
			assert.Less(t, allocated, uint64(4<<10))
		})
	}
}

// heapBytesAllocated returns the bytes f allocated on the heap.
func heapBytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCommandUnmarshalCopies: the decoded Command, and the store that
// applies it, keep no reference to the entry's bytes, which their owner may
// reuse.
func TestCommandUnmarshalCopies(t *testing.T) {
	b, err := Command{Op: OpPut, Key: "key", Value: []byte("value")}.Marshal()
	require.NoError(t, err)
	var c Command
	require.NoError(t, c.Unmarshal(b))
	s := New()
	_, err = s.Apply(1, b)
	require.NoError(t, err)

	for i := range b {
		b[i] = 'x'
	}
	require.Equal(t, Command{Op: OpPut, Key: "key", Value: []byte("value")}, c)
	kv, ok := s.Get("key")
	require.True(t, ok)
	require.Equal(t, "value", string(kv.Value))
}

// TestCommandAllocations: Marshal allocates once; Unmarshal once for the
// Key and once for the Value, where go-msgpack allocated several times.
func TestCommandAllocations(t *testing.T) {
	c := benchCommand()
	b, err := c.Marshal()
	require.NoError(t, err)
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() {
		if _, err := c.Marshal(); err != nil {
			panic(err)
		}
	}), "Marshal")
	var got Command
	assert.Equal(t, 2.0, testing.AllocsPerRun(100, func() {
		if err := got.Unmarshal(b); err != nil {
			panic(err)
		}
	}), "Unmarshal")
}

// TestCommandTooLarge: a Key or Value that msgpack cannot frame is an
// error, where go-msgpack wrote its length modulo 2^32.
func TestCommandTooLarge(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skip("a slice cannot be that long")
	}
	longest := uint64(msgp.MaxLen) // a variable: a 32-bit int cannot hold the constant
	require.ErrorIs(t, framedLenError("Value", int(longest+1)), ErrTooLarge)
	require.NoError(t, framedLenError("Value", int(longest)))
}

// FuzzCommandUnmarshal decodes arbitrary bytes with Unmarshal and with
// go-msgpack. Either both accept and agree on the Command, or Unmarshal
// refuses (with ErrDecode, leaving the zero Command). In the second case, if
// go-msgpack accepts, the input is not how go-msgpack writes what it read,
// and Unmarshal accepts that encoding, with go-msgpack's value: it is
// stricter only about forms that no encoder writes.
func FuzzCommandUnmarshal(f *testing.F) {
	for _, c := range []Command{
		{},
		{Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, IfModRevision: -40, Session: 1, Seq: 200, SessionTTL: 1 << 40, Time: math.MinInt64, RequestID: math.MaxUint64},
		{Op: OpDelete, Key: string(bytes.Repeat([]byte{'k'}, 40)), Value: []byte{}},
		{Op: OpOpenSession, SessionTTL: 60e9, Time: 1_700_000_000_000_000_000},
	} {
		f.Add(codecMarshal(f, c))
	}
	for _, h := range []string{
		"90", "9101", // missing fields
		"9b00a0c0c200000000000093c0a0ca3f800000", // a new field
		"9a00c4016bc0c2000000000000",             // bin for Key
		"9a00a0a176c2000000000000",               // str for Value
		"9a00a0c00100cfffffffffffffffff00000000", // wrapped int64
		"9a00a09101c2000000000000",               // array for Value
		"dc000a00a0c0c2d0e0cc01d100010000cd0001", // wide forms
		"9b00a0c0c2000000000000d40100",           // ext in a new field
	} {
		f.Add(mustDecodeHex(f, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, oursErr, ref, refErr := decodeBoth(data)
		if oursErr == nil {
			require.NoError(t, refErr, "Unmarshal accepts %x, go-msgpack does not", data)
			require.Equal(t, ref, ours, "%x", data)
			checkMatchesCodec(t, ours)
			return
		}
		require.ErrorIs(t, oursErr, ErrDecode)
		require.Zero(t, ours)
		if refErr != nil {
			return
		}
		canonical := codecMarshal(t, ref)
		require.NotEqual(t, hex.EncodeToString(canonical), hex.EncodeToString(data),
			"Unmarshal refuses go-msgpack's encoding of %+v: %v", ref, oursErr)
		var again Command
		require.NoError(t, again.Unmarshal(canonical))
		require.Equal(t, ref, again)
	})
}

// benchCommand is a typical write: a put of 128 bytes in a session.
func benchCommand() Command {
	return Command{
		Op: OpPut, Key: "users/0000012345", Value: bytes.Repeat([]byte{'v'}, 128),
		Session: 1042, Seq: 77, Time: 1_700_000_000_123_456_789, RequestID: 0x5eed_0000_1234,
	}
}

// BenchmarkCommandMarshal compares go-msgpack, which Marshal used before,
// with Marshal.
func BenchmarkCommandMarshal(b *testing.B) {
	c := benchCommand()
	b.Run("go-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encode(&c, "Command"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommandUnmarshal compares go-msgpack, which Unmarshal used
// before, with Unmarshal.
func BenchmarkCommandUnmarshal(b *testing.B) {
	data, err := benchCommand().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("go-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Command
			if err := decode(data, &c, "Command"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Command
			if err := c.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
