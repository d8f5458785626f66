// Package msgp is the kv example's hand-written msgpack: the type bytes,
// the encodings of integers, strings, bins, bools and array headers, and a
// Reader that decodes them. It writes exactly the bytes go-msgpack
// (github.com/hashicorp/go-msgpack/v2, with WriteExt) writes for these
// types, and reads every form go-msgpack writes for them.
//
// Two codecs of the example are written with it, each keeping only its
// fields, their order and its documentation: the store's Command
// (store/command_codec.go), whose bytes must stay those go-msgpack wrote
// before it, and the binary form of POST /batch (internal/batchwire). Both
// are written by hand, to encode and decode on every write without
// reflection; this package exists so that the msgpack under them is
// written, and tested, once. The library's own codec
// (encoding_fastpath.go in the root package) is the same kind of code but
// stays apart: the library does not depend on its example.
//
// Nothing here allocates but ReadString. A Reader checks every length
// against the bytes left before its caller can allocate for it, so that a
// hostile header costs nothing: a bin32 declaring 4 GiB in a 10-byte input
// is an error, not an allocation.
package msgp

// The msgpack type bytes
// (https://github.com/msgpack/msgpack/blob/master/spec.md#formats). Those
// not named, the ext types, are neither written nor read here.
const (
	PosFixIntMax = 0x7f // 0x00..0x7f: positive fixint, the value itself
	FixMapMin    = 0x80 // 0x80..0x8f: fixmap, the number of pairs in the low bits
	FixMapMax    = 0x8f
	FixArrayMin  = 0x90 // 0x90..0x9f: fixarray, the number of values in the low bits
	FixArrayMax  = 0x9f
	FixStrMin    = 0xa0 // 0xa0..0xbf: fixstr, the number of bytes in the low bits
	FixStrMax    = 0xbf
	Nil          = 0xc0
	NeverUsed    = 0xc1 // reserved; refused
	False        = 0xc2
	True         = 0xc3
	Bin8         = 0xc4 // bin and str: a big-endian length of 1, 2 or 4 bytes, then the bytes
	Bin16        = 0xc5
	Bin32        = 0xc6
	Float32      = 0xca
	Float64      = 0xcb
	Uint8        = 0xcc // integers: the big-endian value, of 1, 2, 4 or 8 bytes
	Uint16       = 0xcd
	Uint32       = 0xce
	Uint64       = 0xcf
	Int8         = 0xd0
	Int16        = 0xd1
	Int32        = 0xd2
	Int64        = 0xd3
	Str8         = 0xd9
	Str16        = 0xda
	Str32        = 0xdb
	Array16      = 0xdc // arrays and maps: a big-endian count of 2 or 4 bytes, then the values
	Array32      = 0xdd
	Map16        = 0xde
	Map32        = 0xdf
	NegFixIntMin = 0xe0 // 0xe0..0xff: negative fixint, -32..-1
)
