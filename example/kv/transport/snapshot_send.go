package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/keelraft/raft"
)

// castagnoli is the CRC32C table of the snapshot checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errSnapRejected: the receiver's Raft.Process refused the snapshot.
	// Retrying would not help.
	errSnapRejected = errors.New("snapshot rejected by the receiver")
	// errSnapBadSum: the receiver found the reassembled data's checksum
	// wrong and dropped it.
	errSnapBadSum = errors.New("snapshot checksum mismatch at the receiver")
	// errCut: the peer is cut (see Transport.Cut).
	errCut = errors.New("peer is cut")
)

// sendSnapshot starts the transfer of m, a MsgSnap, on a goroutine of its
// own. A transfer to this peer still in progress is canceled first, without
// a report: the newer snapshot's report stands for both.
func (p *peer) sendSnapshot(m raft.Message) {
	if m.Snapshot == nil {
		p.t.log.Error("transport: dropping a MsgSnap without a snapshot", "peer", p.id)
		p.t.postReport(report{id: p.id, snap: true, status: raft.SnapshotFailure})
		return
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	prev := p.snapDone
	if p.snapCancel != nil {
		p.snapCancel()
	}
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	p.snapCancel, p.snapDone = cancel, done
	p.t.wg.Add(1)
	go func() {
		defer p.t.wg.Done()
		defer close(done)
		defer cancel()
		if prev != nil {
			<-prev // one transfer per peer at a time
		}
		p.runSnapshot(ctx, m)
	}()
}

// runSnapshot transfers m's snapshot, retrying after broken connections
// (each retry resumes where the receiver stands), and reports the outcome.
// It gives up after maxSnapAttempts attempts in a row that moved no data.
func (p *peer) runSnapshot(ctx context.Context, m raft.Message) {
	data := m.Snapshot.Data
	// The begin frame carries the message without the data, which follows
	// in chunks.
	sp := *m.Snapshot
	sp.Data = nil
	meta := m
	meta.Snapshot = &sp
	encoded, err := meta.Marshal()
	if err == nil && 1+12+len(encoded) > p.t.cfg.MaxFrameSize {
		err = fmt.Errorf("%w: snapshot metadata of %d bytes", errFrameTooLarge, len(encoded))
	}
	if err != nil {
		p.t.log.Error("transport: cannot send snapshot", "peer", p.id, "index", sp.Metadata.Index, "err", err)
		p.t.reportSnapshot(p.id, raft.SnapshotFailure)
		return
	}
	var begin [12]byte
	binary.BigEndian.PutUint64(begin[:8], uint64(len(data)))
	binary.BigEndian.PutUint32(begin[8:], crc32.Checksum(data, castagnoli))

	p.t.log.Info("transport: sending snapshot", "peer", p.id, "index", sp.Metadata.Index, "term", sp.Metadata.Term, "bytes", len(data))
	var (
		bo       backoff
		failures int
	)
	for {
		if p.t.isCut(p.id) {
			err = errCut
			break
		}
		var moved bool
		moved, err = p.trySnapshot(ctx, begin[:], encoded, data)
		if err == nil {
			p.t.log.Info("transport: snapshot sent", "peer", p.id, "index", sp.Metadata.Index)
			p.t.reportSnapshot(p.id, raft.SnapshotFinish)
			return
		}
		if ctx.Err() != nil {
			return // superseded, peer removed, or transport closed
		}
		if errors.Is(err, errSnapRejected) || errors.Is(err, errCut) {
			break
		}
		p.t.reportUnreachable(p.id)
		if moved {
			failures = 0
		} else {
			failures++
		}
		if failures >= maxSnapAttempts {
			break
		}
		p.t.log.Warn("transport: snapshot transfer interrupted, will resume", "peer", p.id, "index", sp.Metadata.Index, "err", err)
		if !sleep(ctx, bo.next()) {
			return
		}
	}
	p.t.log.Warn("transport: giving up sending snapshot", "peer", p.id, "index", sp.Metadata.Index, "err", err)
	p.t.reportSnapshot(p.id, raft.SnapshotFailure)
}

// trySnapshot makes one attempt on a new connection: begin, learn the
// receiver's offset, stream the chunks from there, wait for the outcome.
// moved says whether any chunk was written.
func (p *peer) trySnapshot(ctx context.Context, begin, encoded, data []byte) (moved bool, err error) {
	c, err := p.t.dial(ctx, p.addr, kindSnapshot, p.id)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// Canceling ctx unblocks any read or write below.
	defer context.AfterFunc(ctx, func() { c.Close() })()

	fw := &frameWriter{w: bufio.NewWriterSize(c, 64<<10)}
	fr := newFrameReader(c)
	if err := fw.writeNow(c, writeTimeout, frameSnapBegin, begin, encoded); err != nil {
		return false, fmt.Errorf("write snapshot begin: %w", err)
	}
	off, err := readSnapReply(c, fr, frameSnapAck, writeTimeout)
	if err != nil {
		return false, err
	}
	total := uint64(len(data))
	if off > total {
		return false, fmt.Errorf("%w: resume offset %d past the end %d", errBadFrame, off, total)
	}
	if off > 0 {
		p.t.stats.snapResumes.Add(1)
		p.t.stats.snapResumeFrom.Store(off)
	}
	var offBytes [8]byte
	for off < total {
		if err := ctx.Err(); err != nil {
			return moved, err // AfterFunc closes c, but maybe not yet
		}
		if p.t.isCut(p.id) {
			return moved, errCut
		}
		end := min(off+uint64(p.t.cfg.SnapshotChunk), total)
		binary.BigEndian.PutUint64(offBytes[:], off)
		if err := fw.writeNow(c, writeTimeout, frameSnapChunk, offBytes[:], data[off:end]); err != nil {
			return moved, fmt.Errorf("write snapshot chunk at %d: %w", off, err)
		}
		moved, off = true, end
		if h := p.t.hooks.afterSnapChunk; h != nil {
			if err := h(p.id, off); err != nil {
				return moved, err
			}
		}
	}
	status, err := readSnapReply(c, fr, frameSnapDone, snapDoneTimeout)
	if err != nil {
		return moved, err
	}
	switch status {
	case uint64(snapOK):
		return moved, nil
	case uint64(snapBadSum):
		return moved, errSnapBadSum
	case uint64(snapRejected):
		return moved, errSnapRejected
	}
	return moved, fmt.Errorf("%w: snapshot outcome %d", errBadFrame, status)
}

// readSnapReply reads the receiver's frame of type want: an ack's 8-byte
// offset or a done frame's status byte, returned as a number.
func readSnapReply(c interface{ SetReadDeadline(time.Time) error }, fr *frameReader, want byte, timeout time.Duration) (uint64, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	typ, b, err := fr.next(16)
	if err != nil {
		return 0, fmt.Errorf("read snapshot reply: %w", err)
	}
	switch {
	case typ == want && want == frameSnapAck && len(b) == 8:
		return binary.BigEndian.Uint64(b), nil
	case typ == want && want == frameSnapDone && len(b) == 1:
		return uint64(b[0]), nil
	}
	return 0, fmt.Errorf("%w: type %d of %d bytes, want type %d", errBadFrame, typ, len(b), want)
}
