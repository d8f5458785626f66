package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelraft/raft"
)

// Raft is what the transport delivers to: in the KV service, the server's
// node. It must be safe for concurrent use. Process must return once its
// context is done (Close cancels it); ReportUnreachable and ReportSnapshot
// should not block for long, because Close waits for the goroutine calling
// them. The transport never calls them from inside Send, so they may post
// to the goroutine that calls Send.
type Raft interface {
	// Process steps a message received from a peer. The message's byte
	// slices (entries' Data, Context) alias the transport's read buffer,
	// which the next frame overwrites: an implementation that keeps any of
	// them after Process returns (stepping m into a RawNode does) must copy
	// them first.
	Process(ctx context.Context, m raft.Message) error
	// ReportUnreachable says a message to id was, or may have been, lost.
	ReportUnreachable(id uint64)
	// ReportSnapshot says how sending a snapshot to id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// Config configures a Transport. ID, ListenAddr and Raft are required.
type Config struct {
	// ID is this node's raft ID, sent in every handshake.
	ID uint64
	// ListenAddr is the peer address to listen on, "127.0.0.1:7001"; port 0
	// picks a free port (see Transport.Addr).
	ListenAddr string
	// AdvertiseHTTP is this node's client URL, "http://127.0.0.1:8001", told
	// to peers in the handshake (see Transport.PeerHTTP).
	AdvertiseHTTP string
	// Raft receives the messages and the reports.
	Raft Raft
	// MaxFrameSize bounds a frame (type byte and payload) on the peer port;
	// a bigger frame closes that connection, and a message that would need
	// one is dropped by the sender. Default 16 MiB.
	MaxFrameSize int
	// SnapshotChunk is the number of snapshot data bytes per frame. Default
	// 1 MiB; lowered to fit MaxFrameSize.
	SnapshotChunk int
	// QueueSize is the number of messages queued per peer before Send drops
	// them. Default 4096.
	QueueSize int
	// Logger receives the transport's few log lines. Nil discards them.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxFrameSize  = 16 << 20
	DefaultSnapshotChunk = 1 << 20
	DefaultQueueSize     = 4096
)

// Timing. The backoff doubles from minBackoff to maxBackoff between failed
// dials, and starts again from minBackoff once a connection has lived
// longer than stableConn.
const (
	minBackoff       = 50 * time.Millisecond
	maxBackoff       = 2 * time.Second
	stableConn       = time.Second
	dialTimeout      = 2 * time.Second
	writeTimeout     = 10 * time.Second // one batch, or one snapshot frame
	helloTimeout     = 10 * time.Second // from accept to the end of the hello
	snapIdleTimeout  = 30 * time.Second // between frames of a snapshot transfer
	snapDoneTimeout  = time.Minute      // from the last chunk to the receiver's outcome
	snapTakeover     = 2 * time.Second  // a resuming connection waits this long for the old one
	snapPartialTTL   = 5 * time.Minute  // an idle partial transfer is forgotten after this
	maxSnapAttempts  = 5                // consecutive snapshot attempts without progress
	maxBatchMessages = 1024             // messages per flush
	logEvery         = 10 * time.Second // rate limit of repeated log lines
)

// Transport sends raft messages to peers over TCP and delivers theirs to
// Config.Raft. See the package documentation for the protocol. All methods
// are safe for concurrent use.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the transport starts

	mu       sync.RWMutex
	closed   bool
	peers    map[uint64]*peer
	incoming map[net.Conn]struct{} // accepted connections, to close on Close
	msgConns map[uint64]net.Conn   // the newest message connection from each peer
	httpURLs map[uint64]string     // what each peer advertised

	cuts atomic.Pointer[map[uint64]bool] // copy on write; read on every message

	// reports carries calls to Raft that Send must not make itself: it runs
	// on the caller's goroutine, which may be the one Raft posts to.
	reports chan report

	snaps snapReceiver

	unknownLog rateLimiter // messages to a peer never added
	fromLog    rateLimiter // messages whose From contradicts the handshake
	processLog rateLimiter // Raft.Process errors

	hooks testHooks
	stats stats
}

// report is a deferred call to Raft.ReportUnreachable or ReportSnapshot.
type report struct {
	id     uint64
	peer   *peer // set for a full queue: its drop counter is logged
	snap   bool
	status raft.SnapshotStatus
}

// testHooks let tests stop the transport at chosen points. Nil hooks are
// skipped. They are set before AddPeer and never changed.
type testHooks struct {
	// beforeBatch runs when a peer's writer has taken the first message of
	// a batch, before it takes the others queued.
	beforeBatch func(peer uint64)
	// afterSnapChunk runs after a snapshot chunk ending at offset off was
	// flushed; an error breaks the connection as a failed write would.
	afterSnapChunk func(peer uint64, off uint64) error
}

// stats are counters for tests.
type stats struct {
	snapResumes    atomic.Uint64 // snapshot attempts the receiver let start past 0
	snapResumeFrom atomic.Uint64 // the offset of the last of them
	cutDrops       atomic.Uint64 // messages dropped because of Cut, either way
}

// New checks cfg, fills in defaults and starts listening on cfg.ListenAddr.
// Peers are added with AddPeer.
func New(cfg Config) (*Transport, error) {
	switch {
	case cfg.ID == raft.None:
		return nil, errors.New("transport: Config.ID must not be 0")
	case cfg.Raft == nil:
		return nil, errors.New("transport: Config.Raft is nil")
	case len(cfg.AdvertiseHTTP) > maxHelloSize-helloFixed-1:
		return nil, fmt.Errorf("transport: Config.AdvertiseHTTP is longer than %d bytes", maxHelloSize-helloFixed-1)
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.MaxFrameSize < maxHelloSize {
		cfg.MaxFrameSize = maxHelloSize
	}
	if cfg.SnapshotChunk <= 0 {
		cfg.SnapshotChunk = DefaultSnapshotChunk
	}
	// A chunk frame is the type byte, the 8-byte offset and the chunk.
	cfg.SnapshotChunk = min(cfg.SnapshotChunk, cfg.MaxFrameSize-9)
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %q: %w", cfg.ListenAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:      cfg,
		log:      logger.With("node", cfg.ID),
		ln:       ln,
		ctx:      ctx,
		cancel:   cancel,
		peers:    make(map[uint64]*peer),
		incoming: make(map[net.Conn]struct{}),
		msgConns: make(map[uint64]net.Conn),
		httpURLs: make(map[uint64]string),
		reports:  make(chan report, 256),
		snaps:    snapReceiver{partials: make(map[snapKey]*partial)},
	}
	t.wg.Add(2)
	go t.acceptLoop()
	go t.reportLoop()
	return t, nil
}

// Addr returns the address the transport listens on, with the actual port
// when Config.ListenAddr asked for port 0.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// AddPeer makes id reachable at addr and starts its connection. Adding a
// known peer with a new address replaces its connection (messages queued
// for the old one are dropped); with the same address it does nothing.
// Adding this node's own ID does nothing.
func (t *Transport) AddPeer(id uint64, addr string) {
	if id == t.cfg.ID || id == raft.None {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if old := t.peers[id]; old != nil {
		if old.addr == addr {
			return
		}
		old.stop()
	}
	p := newPeer(t, id, addr)
	t.peers[id] = p
	t.wg.Add(1)
	go p.run()
}

// RemovePeer stops sending to id: its connections close and its queued
// messages and snapshot transfer are dropped, without reports. Messages
// from id are still delivered while id keeps a connection to this node.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		delete(t.peers, id)
		p.stop()
	}
}

// Send queues msgs for their peers (Message.To) and returns at once: it never
// waits for the network and never calls Raft. A message is dropped, and
// Raft.ReportUnreachable(To) called soon after, when its peer's queue is
// full or its peer was never added. A MsgSnap goes to a goroutine of its own
// that streams the snapshot in chunks and ends with Raft.ReportSnapshot; it
// replaces a transfer to the same peer still in progress. Messages to a peer
// that is cut (see Cut) are dropped silently, a MsgSnap with a
// ReportSnapshot(SnapshotFailure). Send keeps the messages' contents
// (entries, snapshot data) until they are written: the caller must not
// modify them.
func (t *Transport) Send(msgs []raft.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	for i := range msgs {
		m := &msgs[i]
		if t.isCut(m.To) {
			t.stats.cutDrops.Add(1)
			if m.Type == raft.MsgSnap {
				t.postReport(report{id: m.To, snap: true, status: raft.SnapshotFailure})
			}
			continue
		}
		p := t.peers[m.To]
		if p == nil {
			if ok, n := t.unknownLog.allow(); ok {
				t.log.Warn("transport: dropping messages to a peer not added", "peer", m.To, "type", m.Type, "not_logged", n)
			}
			if m.Type == raft.MsgSnap {
				t.postReport(report{id: m.To, snap: true, status: raft.SnapshotFailure})
			} else {
				t.postReport(report{id: m.To})
			}
			continue
		}
		if m.Type == raft.MsgSnap {
			p.sendSnapshot(*m)
			continue
		}
		select {
		case p.queue <- *m:
		default:
			p.drops.Add(1)
			// One pending report per peer is enough, however many messages
			// the full queue turns away meanwhile.
			if p.reportPending.CompareAndSwap(false, true) {
				t.postReport(report{id: p.id, peer: p})
			}
		}
	}
}

// postReport hands r to reportLoop without blocking.
func (t *Transport) postReport(r report) {
	select {
	case t.reports <- r:
	default:
		// reportLoop is far behind; the Raft will hear of the peer again.
		if r.peer != nil {
			r.peer.reportPending.Store(false)
		}
	}
}

// reportLoop makes the calls to Raft that Send posts.
func (t *Transport) reportLoop() {
	defer t.wg.Done()
	for {
		select {
		case r := <-t.reports:
			switch {
			case r.snap:
				t.reportSnapshot(r.id, r.status)
			case r.peer != nil:
				r.peer.reportPending.Store(false)
				r.peer.dropsNotLogged += r.peer.drops.Swap(0)
				if ok, _ := r.peer.dropLog.allow(); ok {
					t.log.Warn("transport: peer queue full, dropping messages", "peer", r.id, "dropped", r.peer.dropsNotLogged)
					r.peer.dropsNotLogged = 0
				}
				t.reportUnreachable(r.id)
			default:
				t.reportUnreachable(r.id)
			}
		case <-t.ctx.Done():
			return
		}
	}
}

// reportUnreachable calls Raft.ReportUnreachable unless the transport is
// closing.
func (t *Transport) reportUnreachable(id uint64) {
	if t.ctx.Err() == nil {
		t.cfg.Raft.ReportUnreachable(id)
	}
}

// reportSnapshot calls Raft.ReportSnapshot unless the transport is closing.
func (t *Transport) reportSnapshot(id uint64, status raft.SnapshotStatus) {
	if t.ctx.Err() == nil {
		t.cfg.Raft.ReportSnapshot(id, status)
	}
}

// PeerHTTP returns the client URL peer id advertised in its last
// handshake with this node, or "" if it has not connected yet.
func (t *Transport) PeerHTTP(id uint64) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.httpURLs[id]
}

// Cut is fault injection for tests: while cut is true, every message to id
// and from id is dropped, as in a network partition, and a snapshot
// transfer either way fails. Connections stay open; Cut(id, false) heals.
func (t *Transport) Cut(id uint64, cut bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[uint64]bool)
	if cur := t.cuts.Load(); cur != nil {
		for k := range *cur {
			next[k] = true
		}
	}
	if cut {
		next[id] = true
	} else {
		delete(next, id)
	}
	t.cuts.Store(&next)
}

func (t *Transport) isCut(id uint64) bool {
	cur := t.cuts.Load()
	return cur != nil && (*cur)[id]
}

// Close stops the transport: it closes the listener and every connection,
// cancels snapshot transfers without reporting them, and returns once all
// its goroutines have ended. No Raft method is called after Close returns.
// Closing twice is harmless.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	for _, p := range t.peers {
		p.stop()
	}
	t.peers = nil
	for c := range t.incoming {
		c.Close()
	}
	t.mu.Unlock()
	err := t.ln.Close()
	t.wg.Wait()
	t.snaps.clear()
	if err != nil {
		return fmt.Errorf("transport: close listener: %w", err)
	}
	return nil
}

// dial connects to addr and writes the hello of a connection of the given
// kind to peer id.
func (t *Transport) dial(ctx context.Context, addr string, kind connKind, id uint64) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	h := hello{kind: kind, from: t.cfg.ID, to: id, httpURL: t.cfg.AdvertiseHTTP}
	frame := h.appendFrame(make([]byte, 0, 5+helloFixed+len(h.httpURL)))
	if err = c.SetWriteDeadline(time.Now().Add(writeTimeout)); err == nil {
		_, err = c.Write(frame)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("write hello to %s: %w", addr, err)
	}
	return c, nil
}

// rateLimiter lets a repeated log line through at most once per logEvery.
type rateLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one logged.
func (l *rateLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// backoff is the wait between failed attempts: doubling from minBackoff to
// maxBackoff, with up to a quarter more of jitter so that peers do not redial
// in step.
type backoff struct{ cur time.Duration }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = minBackoff
	} else {
		b.cur = min(2*b.cur, maxBackoff)
	}
	return b.cur + rand.N(b.cur/4+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
