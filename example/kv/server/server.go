package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/store"
	"github.com/keelraft/raft/example/kv/wal"
)

// maxUncommittedBytes bounds the payload a leader holds appended but not
// committed; proposals past it are refused (503) rather than queued without
// end while followers are slow.
const maxUncommittedBytes = 64 << 20

// Server is one running kv node. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	wal     *wal.Storage
	store   *store.Store
	tr      peerTransport
	adapter *raftAdapter
	url     string // this node's HTTP URL

	httpSrv       *http.Server
	httpLn        net.Listener
	forwardClient *http.Client
	baseCtx       context.Context // of every HTTP request; cancelled by Stop
	cancel        context.CancelFunc
	httpDone      chan struct{}

	propc   chan *proposal
	readc   chan *readRequest
	confc   chan *confChange
	callc   chan func()
	persist *persister // writes the log behind the loop

	stopc    chan struct{} // closed by Stop
	stopOnce sync.Once
	stopErr  error
	loopDone chan struct{} // closed when the loop returned
	loopErr  error         // why it returned; read after loopDone

	nextRequest atomic.Uint64 // low 48 bits of the next request id
	state       atomic.Pointer[nodeState]

	n node // owned by the loop goroutine
}

// nodeState is what the loop publishes for the HTTP handlers after every
// round.
type nodeState struct {
	term, lead, commit, applied uint64
	role                        raft.StateType
	removed                     bool
}

// Start opens the node's data directory, restores its state, and starts
// its raft loop, transport and HTTP server. A new data directory
// bootstraps the cluster of cfg.Peers, unless cfg.Join is set; an existing
// one resumes where the node stopped.
func Start(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.ID),
		propc:    make(chan *proposal, 4096),
		readc:    make(chan *readRequest, 4096),
		confc:    make(chan *confChange),
		callc:    make(chan func()),
		stopc:    make(chan struct{}),
		loopDone: make(chan struct{}),
		httpDone: make(chan struct{}),
	}
	// Request ids restart from a random point so that they do not repeat
	// the ids of entries a previous run of this node proposed.
	s.nextRequest.Store(rand.Uint64() & (1<<47 - 1))
	s.adapter = newRaftAdapter(s.loopDone)

	ok := false
	defer func() {
		if !ok {
			if s.persist != nil {
				s.persist.close()
			}
			s.closeAll()
		}
	}()
	if s.wal, err = wal.Open(cfg.DataDir, wal.Options{CatchUpEntries: cfg.SnapshotEvery / 2, Logger: s.log}); err != nil {
		return nil, fmt.Errorf("server: open log: %w", err)
	}
	if err := s.restore(); err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", cfg.ListenHTTP); err != nil {
		return nil, fmt.Errorf("server: listen http: %w", err)
	}
	s.url = advertiseURL(s.httpLn.Addr(), cfg.ListenPeer)
	s.tr, err = newTransport(transportConfig{
		ID: cfg.ID, ListenAddr: cfg.ListenPeer, AdvertiseHTTP: s.url, Raft: s.adapter, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("server: start transport: %w", err)
	}
	s.connectPeers()
	// Apply again what the log holds committed, before serving: a stale
	// read must not see the node's state go back across a restart.
	s.persist = newPersister(s.wal)
	go s.persist.run()
	if err := s.sync(); err != nil {
		return nil, fmt.Errorf("server: replay the log: %w", err)
	}
	s.publish()
	ok = true

	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.forwardClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	s.httpSrv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("node started", "http", s.url, "peer", s.tr.Addr(), "applied", s.n.applied, "data", cfg.DataDir)
	go s.run()
	go func() {
		defer close(s.httpDone)
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server failed", "err", err)
		}
	}()
	return s, nil
}

// restore builds the store and the RawNode from the log: the store from
// the newest snapshot, the node resuming after it. The committed entries
// after the snapshot come back in the first Readys and are applied again,
// membership changes included. A new log bootstraps the cluster.
func (s *Server) restore() error {
	snap, err := s.wal.Snapshot()
	if err != nil {
		return fmt.Errorf("server: read snapshot: %w", err)
	}
	hs, cs, err := s.wal.InitialState()
	if err != nil {
		return fmt.Errorf("server: read state: %w", err)
	}
	last, err := s.wal.LastIndex()
	if err != nil {
		return fmt.Errorf("server: read log: %w", err)
	}
	s.store = store.New()
	if !raft.IsEmptySnap(snap) {
		if err := s.store.Restore(snap.Data); err != nil {
			return fmt.Errorf("server: restore snapshot at index %d: %w", snap.Metadata.Index, err)
		}
	}
	n := &s.n
	n.applied, n.snapIndex, n.lastIndex = snap.Metadata.Index, snap.Metadata.Index, last
	n.confState = cs
	n.peers = map[uint64]string{}
	n.removeAt = map[uint64]uint64{}
	n.reads = map[string]*readBatch{}
	n.rn, err = raft.NewRawNode(&raft.Config{
		ID:                        s.cfg.ID,
		ElectionTick:              10,
		HeartbeatTick:             1,
		Storage:                   s.wal,
		Applied:                   snap.Metadata.Index,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           256,
		MaxUncommittedEntriesSize: maxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		// Writes reach the leader by HTTP; a follower that got one by a
		// race answers "not leader" instead of forwarding it inside raft,
		// so that the leader's new entries are all its own proposals.
		DisableProposalForwarding: true,
		Logger:                    raft.NewSlogLogger(s.cfg.Logger, s.cfg.ID),
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	fresh := raft.IsEmptySnap(snap) && raft.IsEmptyHardState(hs) && last == 0
	if !fresh || s.cfg.Join {
		return nil
	}
	ids := make([]uint64, 0, len(s.cfg.Peers))
	for id := range s.cfg.Peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	peers := make([]raft.Peer, 0, len(ids))
	for _, id := range ids {
		ctx, err := store.Member{ID: id, PeerAddr: s.cfg.Peers[id]}.Marshal()
		if err != nil {
			return fmt.Errorf("server: bootstrap: %w", err)
		}
		peers = append(peers, raft.Peer{ID: id, Context: ctx})
	}
	if err := n.rn.Bootstrap(peers); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.log.Info("bootstrapped a new cluster", "peers", ids)
	return nil
}

// connectPeers tells the transport where the peers are: the configured
// ones, then the members the store knows (which win).
func (s *Server) connectPeers() {
	for id, addr := range s.cfg.Peers {
		if id != s.cfg.ID {
			s.tr.AddPeer(id, addr)
			s.n.peers[id] = addr
		}
	}
	for _, m := range s.store.Members() {
		if m.ID != s.cfg.ID && m.PeerAddr != "" {
			s.tr.AddPeer(m.ID, m.PeerAddr)
			s.n.peers[m.ID] = m.PeerAddr
		}
	}
}

// advertiseURL is the URL peers can reach the HTTP listener at: a listener
// on every interface is advertised with the host of the peer address.
func advertiseURL(addr net.Addr, peerAddr string) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
		if h, _, err := net.SplitHostPort(peerAddr); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// HTTPURL returns the URL of the node's HTTP API, "http://127.0.0.1:8001".
func (s *Server) HTTPURL() string { return s.url }

// ID returns the node's raft id.
func (s *Server) ID() uint64 { return s.cfg.ID }

// PeerAddr returns the address the node's transport listens on.
func (s *Server) PeerAddr() string { return s.tr.Addr() }

// Stop stops the node: the raft loop, the HTTP server, the transport, and
// the log (synced and closed). Requests in flight get 503. It returns the
// first error met while closing; calling it again returns the same.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		close(s.stopc)
		s.cancel() // forwarded requests end now
		// Once the loop is gone, the handlers that waited for it answer at
		// once; Shutdown gives them a moment to do so. It would wait
		// longer for connections a client opened and never used (5s):
		// Close ends those.
		<-s.loopDone
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var err error
		if s.httpSrv.Shutdown(ctx) != nil {
			err = s.httpSrv.Close()
		}
		cancel()
		<-s.httpDone
		s.forwardClient.CloseIdleConnections()
		s.stopErr = errors.Join(err, s.closeAll())
		s.log.Info("node stopped")
	})
	return s.stopErr
}

// closeAll closes the transport and the log, whichever were opened.
func (s *Server) closeAll() error {
	var err error
	if s.tr != nil {
		err = s.tr.Close()
	}
	if s.httpLn != nil && s.httpSrv == nil {
		s.httpLn.Close()
	}
	if s.wal != nil {
		err = errors.Join(err, s.wal.Close())
	}
	return err
}

// publish makes the node's state visible to the HTTP handlers.
func (s *Server) publish() {
	bs := s.n.rn.BasicStatus()
	ns := nodeState{
		term: bs.Term, lead: bs.Lead, commit: bs.Commit, applied: s.n.applied,
		role: bs.RaftState, removed: s.n.removed,
	}
	if old := s.state.Load(); old == nil || *old != ns {
		s.state.Store(&ns)
	}
}

// status returns the state the loop published last.
func (s *Server) status() nodeState { return *s.state.Load() }

// newRequestID returns a request id unique to this node: the node id in
// the high 16 bits, a counter in the low 48.
func (s *Server) newRequestID() uint64 {
	return s.cfg.ID<<48 | s.nextRequest.Add(1)&(1<<48-1)
}
