package msgp

// Tests of the Reader: every form go-msgpack writes is read, what does
// not fit is refused, and a hostile or truncated input is an error, never
// a panic or an allocation.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// goMsgpackDepth is the store's limit, mpHandle's MaxDepth of 16 levels.
var goMsgpackDepth = DepthLimit{Max: 15}

func reader(b []byte) *Reader { return NewReader(b, goMsgpackDepth) }

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// integerForms returns every msgpack encoding of v: the fixint if v has
// one, and each signed and unsigned type wide enough.
func integerForms(v int64) [][]byte {
	var forms [][]byte
	if v >= -32 && v <= PosFixIntMax {
		forms = append(forms, []byte{byte(v)})
	}
	for i, size := range []int{1, 2, 4, 8} {
		payload := binary.BigEndian.AppendUint64(nil, uint64(v))[8-size:]
		if shift := 64 - 8*size; v<<shift>>shift == v {
			forms = append(forms, append([]byte{Int8 + byte(i)}, payload...))
		}
		if v >= 0 && (size == 8 || uint64(v) < 1<<(8*size)) {
			forms = append(forms, append([]byte{Uint8 + byte(i)}, payload...))
		}
	}
	return forms
}

// TestReadIntegerAnyForm: ReadInt and ReadUint take every form of a value
// that fits them, signed or unsigned, and refuse what does not fit.
func TestReadIntegerAnyForm(t *testing.T) {
	for _, v := range intBoundaries() {
		for _, form := range integerForms(v) {
			r := reader(form)
			require.Equal(t, v, r.ReadInt(), "%x", form)
			require.NoError(t, r.Finish(), "%x", form)

			r = reader(form)
			u := r.ReadUint(math.MaxUint64)
			if v < 0 {
				require.ErrorContains(t, r.Finish(), "negative", "%x", form)
				require.Zero(t, u)
				continue
			}
			require.Equal(t, uint64(v), u, "%x", form)
			require.NoError(t, r.Finish(), "%x", form)

			r = reader(form)
			u = r.ReadUint(math.MaxUint8)
			if v > math.MaxUint8 {
				require.ErrorContains(t, r.Finish(), "out of range", "%x", form)
				require.Zero(t, u)
			} else {
				require.Equal(t, uint64(v), u, "%x", form)
			}
		}
	}
	for _, v := range []uint64{math.MaxInt64 + 1, math.MaxUint64} {
		form := AppendUint(nil, v)
		r := reader(form)
		require.Equal(t, v, r.ReadUint(math.MaxUint64))
		r = reader(form)
		require.Zero(t, r.ReadInt(), "go-msgpack would wrap %d to a negative value", v)
		require.ErrorContains(t, r.Finish(), "out of range")
	}
	for _, notInt := range []string{"c0", "c2", "a0", "90", "ca00000000"} {
		r := reader(mustHex(t, notInt))
		r.ReadInt()
		require.ErrorContains(t, r.Finish(), "integer expected", notInt)
	}
}

// TestReadBool: a bool, or the fixint 0 or 1, as go-msgpack reads it.
func TestReadBool(t *testing.T) {
	for in, want := range map[byte]bool{False: false, True: true, 0: false, 1: true} {
		r := reader([]byte{in})
		require.Equal(t, want, r.ReadBool())
		require.NoError(t, r.Finish())
	}
	for _, in := range []byte{2, Nil, NegFixIntMin} {
		r := reader([]byte{in})
		require.False(t, r.ReadBool())
		require.ErrorContains(t, r.Finish(), "bool expected")
	}
}

// TestReadBytes: a str or a bin of any width, as a slice of the input
// without spare capacity; nil as nil, and an empty one as not nil.
func TestReadBytes(t *testing.T) {
	for _, n := range lengthBoundaries {
		want := bytes.Repeat([]byte{'x'}, n)
		forms := [][]byte{AppendStr(nil, string(want)), AppendBin(nil, want)}
		for c, size := range map[byte]int{Str8: 1, Bin8: 1, Str16: 2, Bin16: 2, Str32: 4, Bin32: 4} {
			if n < 1<<(8*size) { // every width that holds n, not only the shortest
				header := binary.BigEndian.AppendUint64(nil, uint64(n))[8-size:]
				forms = append(forms, append(append([]byte{c}, header...), want...))
			}
		}
		for _, form := range forms {
			r := reader(form)
			got := r.ReadBytes()
			require.NoError(t, r.Finish())
			require.Equal(t, want, got, "form %x", form[0])
			require.NotNil(t, got)
			require.Equal(t, len(got), cap(got), "an append must not write into the input")
			require.Equal(t, string(want), reader(form).ReadString())
		}
	}
	r := reader([]byte{Nil})
	require.Nil(t, r.ReadBytes())
	require.NoError(t, r.Finish())
	require.Empty(t, reader([]byte{Nil}).ReadString())

	r = reader([]byte{FixArrayMin | 1, 'x'})
	require.Nil(t, r.ReadBytes())
	require.ErrorContains(t, r.Finish(), "bin or str expected", "go-msgpack's array of integers is refused")
}

// TestReadArrayLen: fixarray, array16 and array32 headers.
func TestReadArrayLen(t *testing.T) {
	for _, in := range []string{"9301c0c2", "dc000301c0c2", "dd0000000301c0c2"} {
		r := reader(mustHex(t, in))
		require.Equal(t, 3, r.ReadArrayLen(), in)
		for range 3 {
			r.Skip(1)
		}
		require.NoError(t, r.Finish(), in)
	}
	r := reader([]byte{FixMapMin})
	require.Zero(t, r.ReadArrayLen())
	require.ErrorContains(t, r.Finish(), "array expected")
}

// TestHostileLengthsRefused: a header that declares more than the input
// holds is refused before its length is returned, so that a caller
// allocates nothing for it.
func TestHostileLengthsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		read func(*Reader)
	}{
		"4 GiB bin":          {"c6ffffffff00", func(r *Reader) { r.ReadBytes() }},
		"4 GiB str":          {"dbffffffff00", func(r *Reader) { r.ReadBytes() }},
		"64 KiB str":         {"daffff00", func(r *Reader) { r.ReadBytes() }},
		"4G-value array":     {"ddffffffff00", func(r *Reader) { r.ReadArrayLen() }},
		"skipped 4G array":   {"ddffffffff00", func(r *Reader) { r.Skip(1) }},
		"skipped 4G-pair":    {"dfffffffff00", func(r *Reader) { r.Skip(1) }},
		"skipped 4 GiB bin":  {"c6ffffffff00", func(r *Reader) { r.Skip(1) }},
		"skipped 2-pair map": {"8201c0c2", func(r *Reader) { r.Skip(1) }},
	} {
		r := reader(mustHex(t, tc.in))
		tc.read(r)
		require.ErrorContains(t, r.Finish(), "truncated", name)
	}
}

// TestTruncatedRefused: every proper prefix of a value is an error.
func TestTruncatedRefused(t *testing.T) {
	values := map[string]func(*Reader){
		"d3ffffffffffffffff": func(r *Reader) { r.ReadInt() },
		"cfffffffffffffffff": func(r *Reader) { r.ReadUint(math.MaxUint64) },
		"d20000ffff":         func(r *Reader) { r.ReadUint(math.MaxUint64) },
		"c3":                 func(r *Reader) { r.ReadBool() },
		"c50003616263":       func(r *Reader) { r.ReadBytes() },
		"d903616263":         func(r *Reader) { r.ReadBytes() },
		"dc000201c0":         func(r *Reader) { r.ReadArrayLen(); r.Skip(1); r.Skip(1) },
		"82a16101a16292c0c3": func(r *Reader) { r.Skip(1) },
		"cb3ff0000000000000": func(r *Reader) { r.Skip(1) },
	}
	for in, read := range values {
		b := mustHex(t, in)
		r := reader(b)
		read(r)
		require.NoError(t, r.Finish(), in)
		for n := range len(b) {
			r := reader(b[:n])
			read(r)
			require.Error(t, r.Finish(), "%s cut at %d", in, n)
		}
	}
	r := reader(nil)
	r.ReadArrayLen()
	require.EqualError(t, r.Finish(), "empty input")
}

// TestSkip: Skip moves past exactly one value of any type but ext.
func TestSkip(t *testing.T) {
	for _, in := range []string{
		"05", "e0", "c0", "c3", "d3ffffffffffffffff", "cfffffffffffffffff", "ca3f800000",
		"cb3ff0000000000000", "a3616263", "d903616263", "c50003616263", "c6000000026869",
		"93010203", "dc0002a0c0", "dd00000000", "82a16101a16292c0c3", "df0000000101c0", "91919190",
	} {
		b := mustHex(t, in)
		r := reader(append(bytes.Clone(b), 0x07))
		r.Skip(1)
		require.NoError(t, r.Err(), in)
		require.Equal(t, len(b), r.Offset(), in)
		require.Equal(t, 1, r.Len(), in)
	}
	for in, want := range map[string]string{
		"c1":         "reserved type byte 0xc1",
		"d40100":     "ext type 0xd4",
		"c7010500":   "ext type 0xc7",
		"9201d40100": "ext type 0xd4",
	} {
		r := reader(mustHex(t, in))
		r.Skip(1)
		require.ErrorContains(t, r.Finish(), want, in)
	}
}

// nested is a value at depth 0 whose innermost value, inner, is inside
// the given number of arrays and maps.
func nested(containers int, inner []byte) []byte {
	var b []byte
	for i := range containers {
		if i%2 == 0 {
			b = append(b, FixArrayMin|1)
		} else {
			b = append(b, FixMapMin|1, 0x01) // a key, then the value
		}
	}
	return append(b, inner...)
}

// TestSkipDepthLimit: a container at Max is refused, empty or not, as
// go-msgpack refuses one; with EmptyOK, only a value deeper than Max.
func TestSkipDepthLimit(t *testing.T) {
	const limit = 5
	for _, inner := range []struct {
		hex   string
		empty bool
	}{{"90", true}, {"80", true}, {"9101", false}, {"8101c0", false}, {"01", false}} {
		container := inner.hex != "01"
		for depth := range limit + 3 {
			b := nested(depth, mustHex(t, inner.hex)) // inner at depth `depth`
			r := NewReader(b, DepthLimit{Max: limit})
			r.Skip(0)
			refused := container && depth >= limit || depth > limit
			require.Equal(t, refused, r.Finish() != nil, "%x", b)

			r = NewReader(b, DepthLimit{Max: limit, EmptyOK: true})
			r.Skip(0)
			refused = container && !inner.empty && depth >= limit || depth > limit
			require.Equal(t, refused, r.Finish() != nil, "EmptyOK: %x", b)
		}
	}
}

// TestErrorSticks: after the first error every read returns zero and
// Finish returns that error, whatever follows.
func TestErrorSticks(t *testing.T) {
	r := reader([]byte{NegFixIntMin, 0x01, True, 0xa1, 'x', 0x91, 0x01})
	require.Zero(t, r.ReadUint(math.MaxUint64))
	first := r.Err()
	require.ErrorContains(t, first, "offset 0: negative integer -32")
	require.Zero(t, r.ReadInt())
	require.False(t, r.ReadBool())
	require.Nil(t, r.ReadBytes())
	require.Zero(t, r.ReadArrayLen())
	r.Skip(1)
	r.Fail(nil)
	require.Equal(t, first, r.Finish())
	require.Zero(t, r.Len())
}

// TestFinishRefusesTrailingBytes: a value must fill its input.
func TestFinishRefusesTrailingBytes(t *testing.T) {
	r := reader([]byte{0x01, 0x02, 0x03})
	require.Equal(t, int64(1), r.ReadInt())
	require.EqualError(t, r.Finish(), "2 trailing bytes")
}

// TestRoundTrip: what the Append functions write, the Reader reads back,
// and Skip moves past exactly.
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.Int64().Draw(t, "int")
		u := rapid.Uint64().Draw(t, "uint")
		s := rapid.String().Draw(t, "str")
		bin := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "bin")
		flag := rapid.Bool().Draw(t, "bool")
		b := AppendArrayHeader(nil, 5)
		b = AppendInt(b, i)
		b = AppendUint(b, u)
		b = AppendStr(b, s)
		b = AppendBin(b, bin)
		b = AppendBool(b, flag)

		r := reader(b)
		require.Equal(t, 5, r.ReadArrayLen())
		require.Equal(t, i, r.ReadInt())
		require.Equal(t, u, r.ReadUint(math.MaxUint64))
		require.Equal(t, s, r.ReadString())
		require.Equal(t, bin, r.ReadBytes())
		require.Equal(t, flag, r.ReadBool())
		require.NoError(t, r.Finish())

		r = reader(b)
		r.Skip(0)
		require.NoError(t, r.Finish())
	})
}

// TestReaderAllocatesNothing: a Reader lives on its caller's stack, and
// only ReadString allocates.
func TestReaderAllocatesNothing(t *testing.T) {
	b := AppendArrayHeader(nil, 4)
	b = AppendInt(b, -1<<40)
	b = AppendStr(b, "key")
	b = AppendBin(b, []byte("value"))
	b = AppendArrayHeader(b, 2)
	b = AppendBool(b, true)
	b = AppendUint(b, 1<<40)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		r := NewReader(b, goMsgpackDepth)
		r.ReadArrayLen()
		r.ReadInt()
		r.ReadBytes()
		r.ReadNil()
		r.ReadBytes()
		r.Skip(1)
		if err := r.Finish(); err != nil {
			panic(err)
		}
	}))
}
