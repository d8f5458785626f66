package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/keelraft/raft"
)

// snapKey names one snapshot transfer: who sends which snapshot.
type snapKey struct {
	from, index, term uint64
}

// partial is a snapshot transfer in progress at the receiver. It survives a
// broken connection, so that the sender's next connection resumes at
// len(data) instead of starting over.
type partial struct {
	key   snapKey
	total uint64 // declared size of the data
	crc   uint32 // declared CRC32C of the data
	// lock is held (a token sent into it) by the one connection filling the
	// partial; the fields below belong to the holder.
	lock     chan struct{}
	data     []byte
	sum      uint32 // CRC32C of data so far
	finished bool   // handed to Raft or dropped: a new transfer starts over
	// Guarded by snapReceiver.mu:
	owner   net.Conn  // the connection that last claimed the partial
	touched time.Time // last release, for snapPartialTTL
}

// maxSnapPrealloc bounds the buffer allocated for a transfer before its
// bytes arrive: a declared size is only a claim.
const maxSnapPrealloc = 64 << 20

// snapReceiver keeps the partial transfers, at most one per sender.
type snapReceiver struct {
	mu       sync.Mutex
	partials map[snapKey]*partial
}

// acquire returns the partial for key, locked, creating it unless one with
// the same size and checksum exists. If another connection holds it (the
// sender redialed before this node saw the old connection break), acquire
// gives the old one snapTakeover to finish reading what it has, then closes
// it.
func (s *snapReceiver) acquire(ctx context.Context, key snapKey, total uint64, crc uint32, c net.Conn) (*partial, error) {
	for {
		s.mu.Lock()
		now := time.Now()
		for k, p := range s.partials {
			// One transfer per sender: a new snapshot replaces an older one,
			// and partials nobody resumed for a long time are forgotten.
			stale := p.owner == nil && now.Sub(p.touched) > snapPartialTTL
			if (k.from == key.from && k != key) || stale {
				delete(s.partials, k)
				if p.owner != nil {
					p.owner.Close()
				}
			}
		}
		p := s.partials[key]
		if p == nil || p.total != total || p.crc != crc {
			p = &partial{key: key, total: total, crc: crc, lock: make(chan struct{}, 1)}
			s.partials[key] = p
		}
		old := p.owner
		p.owner = c
		s.mu.Unlock()

		if err := p.take(ctx, old); err != nil {
			return nil, err
		}
		if !p.finished {
			return p, nil
		}
		// The old connection completed it meanwhile (and removed it from
		// the map): start a new one.
		s.release(p, c)
	}
}

// take locks p, closing old if it holds p for longer than snapTakeover.
func (p *partial) take(ctx context.Context, old net.Conn) error {
	select {
	case p.lock <- struct{}{}:
		return nil
	default:
	}
	tm := time.NewTimer(snapTakeover)
	defer tm.Stop()
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-tm.C:
		if old != nil {
			old.Close()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release unlocks p, which c held.
func (s *snapReceiver) release(p *partial, c net.Conn) {
	s.mu.Lock()
	if p.owner == c {
		p.owner = nil
	}
	p.touched = time.Now()
	s.mu.Unlock()
	<-p.lock
}

// finish marks p, which the caller holds, as done and forgets it.
func (s *snapReceiver) finish(p *partial) {
	p.finished = true
	s.mu.Lock()
	if s.partials[p.key] == p {
		delete(s.partials, p.key)
	}
	s.mu.Unlock()
}

// clear forgets every partial transfer (on Close).
func (s *snapReceiver) clear() {
	s.mu.Lock()
	clear(s.partials)
	s.mu.Unlock()
}

// serveSnapshot receives one snapshot transfer from peer from on c: begin,
// ack with the offset to resume at, chunks, then the outcome after the
// checksum check and Raft.Process.
func (t *Transport) serveSnapshot(c net.Conn, fr *frameReader, from uint64) error {
	if err := c.SetReadDeadline(time.Now().Add(snapIdleTimeout)); err != nil {
		return err
	}
	typ, payload, err := fr.next(t.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("read snapshot begin: %w", err)
	}
	if typ != frameSnapBegin || len(payload) < 12 {
		return fmt.Errorf("%w: type %d of %d bytes where a snapshot begin belongs", errBadFrame, typ, len(payload))
	}
	total := binary.BigEndian.Uint64(payload)
	crc := binary.BigEndian.Uint32(payload[8:])
	var m raft.Message
	if err := m.Unmarshal(payload[12:]); err != nil {
		return fmt.Errorf("decode snapshot message: %w", err)
	}
	switch {
	case m.Type != raft.MsgSnap || m.Snapshot == nil:
		return fmt.Errorf("%w: snapshot begin holds a %v", errBadFrame, m.Type)
	case m.From != from || m.To != t.cfg.ID:
		return fmt.Errorf("%w: snapshot from %d to %d on a connection from %d", errBadFrame, m.From, m.To, from)
	case total > math.MaxInt:
		return fmt.Errorf("%w: snapshot of %d bytes", errBadFrame, total)
	case t.isCut(from):
		return errCut
	}
	key := snapKey{from: from, index: m.Snapshot.Metadata.Index, term: m.Snapshot.Metadata.Term}
	p, err := t.snaps.acquire(t.ctx, key, total, crc, c)
	if err != nil {
		return err
	}
	defer t.snaps.release(p, c)

	fw := &frameWriter{w: bufio.NewWriterSize(c, 64)}
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], uint64(len(p.data)))
	if err := fw.writeNow(c, writeTimeout, frameSnapAck, off[:], nil); err != nil {
		return fmt.Errorf("write snapshot ack: %w", err)
	}
	for uint64(len(p.data)) < total {
		if err := t.readChunk(c, fr, p); err != nil {
			return err
		}
		if t.isCut(from) {
			return errCut
		}
	}

	status := snapOK
	if p.sum != crc {
		status = snapBadSum
		err = fmt.Errorf("snapshot %d/%d: CRC32C %#08x, sender said %#08x; dropped", key.index, key.term, p.sum, crc)
		t.snaps.finish(p)
	} else {
		m.Snapshot.Data = p.data
		t.snaps.finish(p)
		p.data = nil
		if perr := t.cfg.Raft.Process(t.ctx, m); perr != nil {
			status = snapRejected
			err = fmt.Errorf("snapshot %d/%d: Raft.Process: %w", key.index, key.term, perr)
		} else {
			t.log.Info("transport: received snapshot", "peer", from, "index", key.index, "term", key.term, "bytes", total)
		}
	}
	if werr := fw.writeNow(c, writeTimeout, frameSnapDone, []byte{status}, nil); werr != nil && err == nil {
		err = fmt.Errorf("write snapshot outcome: %w", werr)
	}
	return err
}

// readChunk appends the next chunk to p. Its bytes are read straight into
// p.data; a chunk cut short by a broken connection is not kept.
func (t *Transport) readChunk(c net.Conn, fr *frameReader, p *partial) error {
	if err := c.SetReadDeadline(time.Now().Add(snapIdleTimeout)); err != nil {
		return err
	}
	typ, size, err := fr.header(t.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("read snapshot chunk: %w", err)
	}
	have := uint64(len(p.data))
	if typ != frameSnapChunk || size < 8 || uint64(size-8) > p.total-have {
		return fmt.Errorf("%w: type %d of %d bytes where a chunk of at most %d belongs", errBadFrame, typ, size, p.total-have)
	}
	off, err := fr.uint64()
	if err != nil {
		return fmt.Errorf("read snapshot chunk: %w", err)
	}
	if off != have {
		return fmt.Errorf("%w: chunk at offset %d, expected %d", errBadFrame, off, have)
	}
	n := size - 8
	if p.data == nil {
		p.data = make([]byte, 0, min(p.total, maxSnapPrealloc))
	}
	p.data = slices.Grow(p.data, n)
	chunk := p.data[len(p.data) : len(p.data)+n]
	if _, err := io.ReadFull(fr.r, chunk); err != nil {
		return fmt.Errorf("read snapshot chunk: %w", err)
	}
	p.sum = crc32.Update(p.sum, castagnoli, chunk)
	p.data = p.data[:len(p.data)+n]
	return nil
}
