package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keelraft/raft"
)

// acceptLoop accepts peer connections until Close.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, then go on.
			t.log.Warn("transport: accept failed", "err", err)
			if !sleep(t.ctx, minBackoff) {
				return
			}
			continue
		}
		if !t.track(c) {
			c.Close()
			return
		}
		t.wg.Add(1)
		go t.handleConn(c)
	}
}

// track records an accepted connection for Close; false if closing.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.incoming[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn, from uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.incoming, c)
	if t.msgConns[from] == c {
		delete(t.msgConns, from)
	}
}

// handleConn reads the hello of an accepted connection and serves it by its
// kind. Anything wrong closes the connection with one log line; nothing a
// peer sends can stop the transport.
func (t *Transport) handleConn(c net.Conn) {
	defer t.wg.Done()
	var h hello
	err := t.serveConn(c, &h)
	c.Close()
	t.untrack(c, h.from)
	if err == nil || t.ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	t.log.Warn("transport: closing peer connection", "peer", h.from, "remote", c.RemoteAddr().String(), "kind", h.kind, "err", err)
}

func (t *Transport) serveConn(c net.Conn, h *hello) error {
	fr := newFrameReader(c)
	if err := c.SetReadDeadline(time.Now().Add(helloTimeout)); err != nil {
		return err
	}
	typ, payload, err := fr.next(maxHelloSize)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("before the handshake: %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("read handshake: %w", err)
	}
	if typ != frameHello {
		return fmt.Errorf("%w: frame type %d where the handshake belongs", errBadFrame, typ)
	}
	if *h, err = parseHello(payload); err != nil {
		return fmt.Errorf("read handshake: %w", err)
	}
	if h.to != t.cfg.ID {
		return fmt.Errorf("%w: peer %d dialed node %d, this is node %d", errIncompatible, h.from, h.to, t.cfg.ID)
	}
	if h.from == t.cfg.ID {
		return fmt.Errorf("%w: peer uses this node's own ID %d", errIncompatible, h.from)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	t.mu.Lock()
	t.httpURLs[h.from] = h.httpURL
	var old net.Conn
	if h.kind == kindMessages {
		// A peer keeps one message connection to us; an older one is dead
		// (the peer redialed) even if no FIN has arrived.
		old = t.msgConns[h.from]
		t.msgConns[h.from] = c
	}
	t.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if h.kind == kindSnapshot {
		return t.serveSnapshot(c, fr, h.from)
	}
	return t.serveMessages(fr, h.from)
}

// serveMessages delivers the frames of a message connection from peer from.
func (t *Transport) serveMessages(fr *frameReader, from uint64) error {
	var m raft.Message
	for {
		typ, payload, err := fr.next(t.cfg.MaxFrameSize)
		if err != nil {
			return err
		}
		if typ != frameMsg {
			return fmt.Errorf("%w: frame type %d on a message connection", errBadFrame, typ)
		}
		if err := m.Unmarshal(payload); err != nil {
			return fmt.Errorf("decode message: %w", err)
		}
		if m.From != from || m.To != t.cfg.ID {
			if ok, n := t.fromLog.allow(); ok {
				t.log.Warn("transport: dropping a message not from the peer or not for this node",
					"peer", from, "from", m.From, "to", m.To, "type", m.Type, "not_logged", n)
			}
			continue
		}
		if t.isCut(from) {
			t.stats.cutDrops.Add(1)
			continue
		}
		if err := t.cfg.Raft.Process(t.ctx, m); err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			if ok, n := t.processLog.allow(); ok {
				t.log.Warn("transport: Raft.Process failed", "peer", from, "type", m.Type, "err", err, "not_logged", n)
			}
		}
	}
}
