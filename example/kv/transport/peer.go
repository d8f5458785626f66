package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelraft/raft"
)

// peer is the sending side towards one peer: a bounded queue drained by one
// writer goroutine (run) over one persistent connection, and at most one
// snapshot transfer on a connection of its own.
type peer struct {
	t      *Transport
	id     uint64
	addr   string
	queue  chan raft.Message
	ctx    context.Context // canceled by stop
	cancel context.CancelFunc

	drops          atomic.Uint64 // messages the full queue turned away since the last report
	reportPending  atomic.Bool   // a full-queue report is posted and not yet made
	dropsNotLogged uint64        // reportLoop's: drops counted but not logged yet
	dropLog        rateLimiter
	failLog        rateLimiter
	flushes        atomic.Uint64 // batches written, for tests

	snapMu     sync.Mutex
	snapCancel context.CancelFunc // of the transfer in progress
	snapDone   chan struct{}      // closed when it has ended
}

func newPeer(t *Transport, id uint64, addr string) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:      t,
		id:     id,
		addr:   addr,
		queue:  make(chan raft.Message, t.cfg.QueueSize),
		ctx:    ctx,
		cancel: cancel,
	}
}

// stop ends the peer's goroutines; it does not wait for them (Close does).
func (p *peer) stop() { p.cancel() }

// errPeerClosed: the peer closed a message connection, which it never
// writes to.
var errPeerClosed = errors.New("connection closed by peer")

// run keeps a connection to the peer and writes the queue into it, until
// stop. Between failed dials it waits with backoff, dropping what was queued
// meanwhile: by the time a connection is up, those messages are stale, and
// Raft resends what still matters.
func (p *peer) run() {
	defer p.t.wg.Done()
	var (
		bo      backoff
		failing bool                               // the last attempt failed: log the next success
		bw      = bufio.NewWriterSize(nil, 64<<10) // reused across connections
	)
	for {
		c, err := p.t.dial(p.ctx, p.addr, kindMessages, p.id)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.discardQueued()
			p.t.reportUnreachable(p.id)
			if ok, n := p.failLog.allow(); ok {
				p.t.log.Warn("transport: cannot reach peer", "peer", p.id, "addr", p.addr, "err", err, "not_logged", n)
			}
			failing = true
			if !sleep(p.ctx, bo.next()) {
				return
			}
			continue
		}
		if failing {
			p.t.log.Info("transport: connected to peer", "peer", p.id, "addr", p.addr)
			failing = false
		}
		start := time.Now()
		bw.Reset(c)
		err = p.serve(c, &frameWriter{w: bw})
		c.Close()
		bw.Reset(nil) // drop the reference to c
		if p.ctx.Err() != nil {
			return
		}
		p.t.reportUnreachable(p.id)
		if ok, n := p.failLog.allow(); ok {
			p.t.log.Warn("transport: lost connection to peer", "peer", p.id, "addr", p.addr, "err", err, "not_logged", n)
		}
		failing = true
		if time.Since(start) > stableConn {
			bo.reset()
		}
		if !sleep(p.ctx, bo.next()) {
			return
		}
	}
}

// serve writes batches from the queue into c until a write fails, the peer
// closes c, or the peer is stopped (then it returns nil).
func (p *peer) serve(c net.Conn, fw *frameWriter) error {
	// The peer never writes on a message connection, so a read returns only
	// when the connection is gone: that is how a restarted peer is noticed
	// without waiting for a write to fail.
	dead := make(chan struct{})
	p.t.wg.Add(1)
	go func() {
		defer p.t.wg.Done()
		defer close(dead)
		_, _ = io.Copy(io.Discard, c)
	}()
	for {
		select {
		case m := <-p.queue:
			if h := p.t.hooks.beforeBatch; h != nil {
				h(p.id)
			}
			if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				return err
			}
			if err := p.writeMessage(fw, &m); err != nil {
				return err
			}
		drain:
			for range maxBatchMessages - 1 {
				select {
				case m = <-p.queue:
					if err := p.writeMessage(fw, &m); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			if err := fw.w.Flush(); err != nil {
				return fmt.Errorf("write to peer %d: %w", p.id, err)
			}
			p.flushes.Add(1)
		case <-dead:
			return errPeerClosed
		case <-p.ctx.Done():
			return nil
		}
	}
}

// writeMessage buffers the frame of m. Only a write error is returned: a
// message that cannot be encoded or is too large is dropped with a log line
// and a report, and the batch goes on.
func (p *peer) writeMessage(fw *frameWriter, m *raft.Message) error {
	if p.t.isCut(p.id) {
		p.t.stats.cutDrops.Add(1)
		return nil
	}
	b, err := m.Marshal()
	if err == nil && len(b)+1 > p.t.cfg.MaxFrameSize {
		err = fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, len(b)+1, p.t.cfg.MaxFrameSize)
	}
	if err != nil {
		p.t.log.Error("transport: dropping a message that cannot be sent", "peer", p.id, "type", m.Type, "err", err)
		p.t.reportUnreachable(p.id)
		return nil
	}
	if err := fw.write(frameMsg, nil, b); err != nil {
		return fmt.Errorf("write to peer %d: %w", p.id, err)
	}
	return nil
}

// discardQueued empties the queue.
func (p *peer) discardQueued() {
	for {
		select {
		case <-p.queue:
		default:
			return
		}
	}
}
