package msgp

// Tests of the encoders against go-msgpack, which wrote the store's log
// before them and stays the reference: the same bytes for every value,
// and sizes that match what is appended.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// goMsgpack encodes v with go-msgpack, configured as the store's mpHandle.
func goMsgpack(t require.TestingT, v any) []byte {
	h := new(codec.MsgpackHandle)
	h.WriteExt = true // []byte as bin, string as str8 and up
	var b []byte
	require.NoError(t, codec.NewEncoderBytes(&b, h).Encode(v))
	return b
}

// intBoundaries are the int64 values where an encoding changes form:
// either side of each limit of fixint and of every width, signed or not.
func intBoundaries() []int64 {
	vs := []int64{0, 1, -1, -32, -33, math.MaxInt64, math.MinInt64}
	for _, bits := range []int{7, 8, 15, 16, 31, 32} {
		limit := int64(1) << bits
		vs = append(vs, limit-1, limit, -limit, -limit-1)
	}
	return vs
}

// uintBoundaries are the uint64 values where an encoding changes form.
func uintBoundaries() []uint64 {
	vs := []uint64{0, math.MaxUint64}
	for _, bits := range []int{7, 8, 16, 32, 63} {
		limit := uint64(1) << bits
		vs = append(vs, limit-1, limit)
	}
	return vs
}

// lengthBoundaries are the lengths where a str, bin or array header
// changes form.
var lengthBoundaries = []int{0, 1, 15, 16, 31, 32, 255, 256, math.MaxUint16, math.MaxUint16 + 1}

func checkInt(t require.TestingT, v int64) {
	got := AppendInt(nil, v)
	require.Equal(t, goMsgpack(t, v), got, "%d", v)
	require.Len(t, got, IntSize(v), "%d", v)
}

func checkUint(t require.TestingT, v uint64) {
	got := AppendUint(nil, v)
	require.Equal(t, goMsgpack(t, v), got, "%d", v)
	require.Len(t, got, UintSize(v), "%d", v)
}

func TestAppendIntMatchesGoMsgpack(t *testing.T) {
	for _, v := range intBoundaries() {
		checkInt(t, v)
	}
	rapid.Check(t, func(t *rapid.T) { checkInt(t, rapid.Int64().Draw(t, "v")) })
}

func TestAppendUintMatchesGoMsgpack(t *testing.T) {
	for _, v := range uintBoundaries() {
		checkUint(t, v)
	}
	rapid.Check(t, func(t *rapid.T) { checkUint(t, rapid.Uint64().Draw(t, "v")) })
}

// TestAppendIntForms pins go-msgpack's choices, which are not the
// shortest: a positive value above 127 takes a signed form.
func TestAppendIntForms(t *testing.T) {
	for v, want := range map[int64]string{
		127: "7f", 128: "d10080", 200: "d100c8", -32: "e0", -33: "d0df", -129: "d1ff7f",
		math.MaxUint16: "d20000ffff", math.MaxInt64: "d37fffffffffffffff",
	} {
		require.Equal(t, want, hex.EncodeToString(AppendInt(nil, v)), "%d", v)
	}
}

func TestAppendStrAndBinMatchGoMsgpack(t *testing.T) {
	for _, n := range lengthBoundaries {
		s := string(bytes.Repeat([]byte{'s'}, n))
		got := AppendStr(nil, s)
		require.Equal(t, goMsgpack(t, s), got, "str of %d bytes", n)
		require.Len(t, got, StrSize(n))

		v := bytes.Repeat([]byte{'b'}, n)
		got = AppendBin(nil, v)
		require.Equal(t, goMsgpack(t, v), got, "bin of %d bytes", n)
		require.Len(t, got, BinSize(v))
	}
	require.Equal(t, []byte{Nil}, AppendBin(nil, nil), "a nil slice is nil")
	require.Equal(t, []byte{Bin8, 0}, AppendBin(nil, []byte{}), "an empty one is a bin")
	require.Equal(t, goMsgpack(t, []byte(nil)), AppendBin(nil, nil))
	require.Equal(t, 1, BinSize(nil))
}

func TestAppendBoolMatchesGoMsgpack(t *testing.T) {
	for _, v := range []bool{false, true} {
		require.Equal(t, goMsgpack(t, v), AppendBool(nil, v))
	}
}

func TestAppendArrayHeaderMatchesGoMsgpack(t *testing.T) {
	for _, n := range lengthBoundaries {
		got := AppendArrayHeader(nil, n)
		got = append(got, bytes.Repeat([]byte{False}, n)...)
		require.Equal(t, goMsgpack(t, make([]bool, n)), got, fmt.Sprintf("array of %d", n))
	}
}

// TestAppendAppends: every AppendX leaves what b holds and appends after it.
func TestAppendAppends(t *testing.T) {
	prefix := []byte{0xaa, 0xbb}
	for name, f := range map[string]func([]byte) []byte{
		"uint":  func(b []byte) []byte { return AppendUint(b, math.MaxUint64) },
		"int":   func(b []byte) []byte { return AppendInt(b, math.MinInt64) },
		"str":   func(b []byte) []byte { return AppendStr(b, "hello") },
		"bin":   func(b []byte) []byte { return AppendBin(b, []byte("hello")) },
		"bool":  func(b []byte) []byte { return AppendBool(b, true) },
		"array": func(b []byte) []byte { return AppendArrayHeader(b, 70000) },
	} {
		alone := f(nil)
		require.Equal(t, append(bytes.Clone(prefix), alone...), f(bytes.Clone(prefix)), name)
	}
}
