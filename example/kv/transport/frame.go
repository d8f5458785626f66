package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Frame types: the byte after a frame's length. See doc.go for the layout of
// each payload.
const (
	frameHello     byte = 1 // first frame of every connection, dialer to listener
	frameMsg       byte = 2 // one raft.Message (message connections)
	frameSnapBegin byte = 3 // snapshot connection: size, checksum, metadata
	frameSnapAck   byte = 4 // snapshot connection, receiver: resume offset
	frameSnapChunk byte = 5 // snapshot connection: offset and bytes of the data
	frameSnapDone  byte = 6 // snapshot connection, receiver: outcome
)

// The handshake's compatibility check: a listener closes a connection whose
// hello does not carry exactly this magic and version.
const (
	helloMagic   uint32 = 0x4b524654 // "KRFT"
	wireVersion  uint16 = 1
	helloFixed          = 4 + 2 + 1 + 8 + 8 + 2 // magic, version, kind, from, to, URL length
	maxHelloSize        = 4 << 10               // bound on the hello frame, before MaxFrameSize applies
)

// connKind is what a connection carries, announced in its hello.
type connKind byte

const (
	kindMessages connKind = 1 // frameMsg frames, one way
	kindSnapshot connKind = 2 // one snapshot transfer, both ways
)

func (k connKind) String() string {
	switch k {
	case kindMessages:
		return "messages"
	case kindSnapshot:
		return "snapshot"
	case 0:
		return "unknown" // no valid hello yet
	}
	return fmt.Sprintf("connKind(%d)", byte(k))
}

// Snapshot outcomes carried by frameSnapDone.
const (
	snapOK       byte = 0 // reassembled, checksum good, Raft.Process accepted it
	snapBadSum   byte = 1 // checksum mismatch: the partial transfer was dropped, retry from 0
	snapRejected byte = 2 // Raft.Process returned an error: do not retry
)

var (
	// errBadFrame: bytes on the peer port that are not a frame the protocol
	// allows at that point. The connection is closed.
	errBadFrame = errors.New("malformed frame")
	// errFrameTooLarge: a frame's length exceeds the limit. The connection is
	// closed without reading the frame.
	errFrameTooLarge = errors.New("frame too large")
	// errIncompatible: a hello with a wrong magic or version, or one that
	// names another node. The connection is closed.
	errIncompatible = errors.New("incompatible handshake")
)

// hello is the handshake, the first frame a dialer writes.
type hello struct {
	kind    connKind
	from    uint64 // the dialer's ID
	to      uint64 // the ID the dialer believes it reaches
	httpURL string // the dialer's Config.AdvertiseHTTP
}

// appendFrame appends the frame of hello h, length prefix included.
func (h hello) appendFrame(b []byte) []byte {
	url := h.httpURL
	if len(url) > maxHelloSize-helloFixed-1 {
		url = url[:maxHelloSize-helloFixed-1] // New refuses such a URL; never reached
	}
	b = binary.BigEndian.AppendUint32(b, uint32(1+helloFixed+len(url)))
	b = append(b, frameHello)
	b = binary.BigEndian.AppendUint32(b, helloMagic)
	b = binary.BigEndian.AppendUint16(b, wireVersion)
	b = append(b, byte(h.kind))
	b = binary.BigEndian.AppendUint64(b, h.from)
	b = binary.BigEndian.AppendUint64(b, h.to)
	b = binary.BigEndian.AppendUint16(b, uint16(len(url)))
	return append(b, url...)
}

// parseHello decodes the payload of a frameHello.
func parseHello(p []byte) (hello, error) {
	if len(p) < helloFixed {
		return hello{}, fmt.Errorf("%w: hello of %d bytes", errBadFrame, len(p))
	}
	if m := binary.BigEndian.Uint32(p); m != helloMagic {
		return hello{}, fmt.Errorf("%w: magic %#08x, want %#08x", errIncompatible, m, helloMagic)
	}
	if v := binary.BigEndian.Uint16(p[4:]); v != wireVersion {
		return hello{}, fmt.Errorf("%w: wire version %d, want %d", errIncompatible, v, wireVersion)
	}
	h := hello{
		kind: connKind(p[6]),
		from: binary.BigEndian.Uint64(p[7:]),
		to:   binary.BigEndian.Uint64(p[15:]),
	}
	if n := int(binary.BigEndian.Uint16(p[23:])); n != len(p)-helloFixed {
		return hello{}, fmt.Errorf("%w: hello URL of %d bytes, %d present", errBadFrame, n, len(p)-helloFixed)
	}
	h.httpURL = string(p[helloFixed:])
	if h.kind != kindMessages && h.kind != kindSnapshot {
		return hello{}, fmt.Errorf("%w: connection kind %d", errBadFrame, byte(h.kind))
	}
	if h.from == 0 {
		return hello{}, fmt.Errorf("%w: sender ID 0", errBadFrame)
	}
	return h, nil
}

// maxRetainedBuffer is the largest payload buffer a frameReader keeps for
// the next frame; a bigger frame gets a buffer of its own, so that one large
// message does not pin its memory for the life of the connection.
const maxRetainedBuffer = 1 << 20

// frameReader reads frames from a connection, reusing one payload buffer.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
	hdr [8]byte
}

func newFrameReader(c net.Conn) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(c, 64<<10)}
}

// header reads a frame's length and type and returns the type and the
// payload size. A length above limit (which counts the type byte) is
// refused before anything more is read.
func (fr *frameReader) header(limit int) (typ byte, size int, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:4]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[:4])
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: zero length", errBadFrame)
	}
	if uint64(n) > uint64(limit) {
		return 0, 0, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, limit)
	}
	typ, err = fr.r.ReadByte()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return typ, int(n) - 1, err
}

// payload reads size bytes into the reused buffer. The result is valid until
// the next call.
func (fr *frameReader) payload(size int) ([]byte, error) {
	var p []byte
	switch {
	case size <= cap(fr.buf):
		p = fr.buf[:size]
	case size <= maxRetainedBuffer:
		fr.buf = make([]byte, size)
		p = fr.buf
	default:
		p = make([]byte, size)
	}
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return nil, err
	}
	return p, nil
}

// next reads a whole frame; the payload is valid until the next call.
func (fr *frameReader) next(limit int) (byte, []byte, error) {
	typ, size, err := fr.header(limit)
	if err != nil {
		return 0, nil, err
	}
	p, err := fr.payload(size)
	return typ, p, err
}

// uint64 reads a big-endian uint64, the start of some payloads.
func (fr *frameReader) uint64() (uint64, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:8]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(fr.hdr[:8]), nil
}

// frameWriter writes frames into a buffered connection; nothing reaches the
// network before flush (or before the buffer fills).
type frameWriter struct {
	w   *bufio.Writer
	hdr [5]byte
}

// write writes one frame whose payload is head followed by body.
func (fw *frameWriter) write(typ byte, head, body []byte) error {
	binary.BigEndian.PutUint32(fw.hdr[:4], uint32(1+len(head)+len(body)))
	fw.hdr[4] = typ
	if _, err := fw.w.Write(fw.hdr[:]); err != nil {
		return err
	}
	if _, err := fw.w.Write(head); err != nil {
		return err
	}
	_, err := fw.w.Write(body)
	return err
}

// writeNow writes one frame and flushes it, within timeout.
func (fw *frameWriter) writeNow(c net.Conn, timeout time.Duration, typ byte, head, body []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := fw.write(typ, head, body); err != nil {
		return err
	}
	return fw.w.Flush()
}
