package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/keelraft/raft"
)

// headerSize is the size of a record's header: length, checksum, type.
const headerSize = 9

// maxPayload is the largest payload the 4-byte length can frame.
const maxPayload = math.MaxUint32

// Record types (see the package documentation).
const (
	typeBatch    byte = 1 // in a segment: what one Save wrote
	typeSnapshot byte = 2 // a snapshot file's one record
)

// Item kinds, inside a batch.
const (
	itemEntry     byte = 1
	itemHardState byte = 2
	itemSnapshot  byte = 3
	itemInstall   byte = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTooLarge is returned for a record whose payload the length field cannot
// hold.
var errTooLarge = fmt.Errorf("record larger than %d bytes", uint64(maxPayload))

// beginRecord appends the header of a record of type typ to buf, with
// length and checksum left for endRecord to fill in.
func beginRecord(buf []byte, typ byte) []byte {
	return append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
}

// endRecord completes the header of the record that starts at buf[start:]
// and runs to the end of buf.
func endRecord(buf []byte, start int) error {
	n := len(buf) - start - headerSize
	if uint64(n) > maxPayload {
		return errTooLarge
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(n))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return nil
}

// appendItem appends one item of a batch to buf.
func appendItem(buf []byte, kind byte, body []byte) []byte {
	buf = append(buf, kind)
	buf = binary.AppendUvarint(buf, uint64(len(body)))
	return append(buf, body...)
}

// appendEntries appends one entry item per entry.
func appendEntries(buf []byte, ents []raft.Entry) ([]byte, error) {
	for i := range ents {
		body, err := ents[i].Marshal()
		if err != nil {
			return nil, err
		}
		buf = appendItem(buf, itemEntry, body)
	}
	return buf, nil
}

// appendHardState appends a hard state item.
func appendHardState(buf []byte, hs raft.HardState) ([]byte, error) {
	body, err := hs.Marshal()
	if err != nil {
		return nil, err
	}
	return appendItem(buf, itemHardState, body), nil
}

// appendSnapshot appends a snapshot or install item (kind) for md.
func appendSnapshot(buf []byte, kind byte, md raft.SnapshotMetadata) ([]byte, error) {
	body, err := raft.Snapshot{Metadata: md}.Marshal()
	if err != nil {
		return nil, err
	}
	return appendItem(buf, kind, body), nil
}

// Why a record could not be read. A short or mismatched record at the end
// of the last segment is a torn write; every other failure is damage.
var (
	errShort    = errors.New("record cut short by the end of the file")
	errChecksum = errors.New("checksum mismatch")
)

// readRecord reads the record at b[off:] and returns its type, its payload
// (a sub-slice of b) and the offset just past it.
func readRecord(b []byte, off int) (typ byte, payload []byte, next int, err error) {
	if len(b)-off < headerSize {
		return 0, nil, 0, errShort
	}
	n := uint64(binary.LittleEndian.Uint32(b[off:]))
	if n > uint64(len(b)-off-headerSize) {
		return 0, nil, 0, errShort
	}
	end := off + headerSize + int(n)
	if crc32.Checksum(b[off+8:end], castagnoli) != binary.LittleEndian.Uint32(b[off+4:]) {
		return 0, nil, 0, errChecksum
	}
	return b[off+8], b[off+headerSize : end], end, nil
}

// intactRecordAfter reports whether a record of type typ with a matching
// checksum starts anywhere in b after off. Open asks it about the bytes after
// a bad record: a torn write leaves nothing intact behind it.
//
// It tries every offset, because the bad record's length cannot be trusted
// to say where the next one starts. A chance match in random bytes needs
// both a length that fits and a 32-bit checksum to agree.
func intactRecordAfter(b []byte, off int, typ byte) bool {
	for p := off + 1; len(b)-p >= headerSize; p++ {
		if b[p+8] != typ {
			continue
		}
		if t, _, _, err := readRecord(b, p); err == nil && t == typ {
			return true
		}
	}
	return false
}

// item is one decoded item of a batch.
type item struct {
	kind byte
	ent  raft.Entry
	hs   raft.HardState
	snap raft.SnapshotMetadata // itemSnapshot and itemInstall
}

// decodeBatch decodes the items of a batch's payload, appending them to
// items.
func decodeBatch(items []item, p []byte) ([]item, error) {
	for len(p) > 0 {
		kind := p[0]
		n, k := binary.Uvarint(p[1:])
		if k <= 0 || n > uint64(len(p)-1-k) {
			return nil, fmt.Errorf("item of kind %d: bad length", kind)
		}
		body := p[1+k : 1+k+int(n)]
		p = p[1+k+int(n):]
		it := item{kind: kind}
		var err error
		switch kind {
		case itemEntry:
			err = it.ent.Unmarshal(body)
		case itemHardState:
			err = it.hs.Unmarshal(body)
		case itemSnapshot, itemInstall:
			var sn raft.Snapshot
			if err = sn.Unmarshal(body); err == nil && (raft.IsEmptySnap(sn) || len(sn.Data) > 0) {
				err = fmt.Errorf("snapshot item at index %d with %d bytes of data", sn.Metadata.Index, len(sn.Data))
			}
			it.snap = sn.Metadata
		default:
			err = fmt.Errorf("unknown item kind %d", kind)
		}
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}
