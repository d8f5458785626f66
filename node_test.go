package raft

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDeadline bounds how long a node test may wait for a Ready. It is a
// safety net against hangs, never an assertion about speed.
const testDeadline = 10 * time.Second

func nodeConfig(id uint64, s *MemoryStorage) *Config {
	return &Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		MaxInflightMsgs: 256,
		Logger:          DiscardLogger,
	}
}

// nodeHost is a test host for one Node: it handles each Ready by the
// contract (send, persist, apply, Advance) and records what it saw. Its
// methods may be called from any goroutine.
type nodeHost struct {
	t       testing.TB
	n       Node
	storage *MemoryStorage
	// send delivers a message to a peer; nil drops messages.
	send func(Message)

	mu         sync.Mutex
	soft       SoftState
	applied    []Entry
	readStates []ReadState
	confState  ConfState
}

func newNodeHost(t testing.TB, n Node, s *MemoryStorage) *nodeHost {
	return &nodeHost{t: t, n: n, storage: s}
}

// handle handles rd and calls Advance. It uses assert, not require, so that
// it may run on a goroutine other than the test's.
func (h *nodeHost) handle(rd Ready) {
	if h.send != nil {
		for _, m := range rd.Messages {
			h.send(m)
		}
	}
	if !IsEmptySnap(rd.Snapshot) {
		assert.NoError(h.t, h.storage.ApplySnapshot(rd.Snapshot))
	}
	assert.NoError(h.t, h.storage.Append(rd.Entries))
	if !IsEmptyHardState(rd.HardState) {
		assert.NoError(h.t, h.storage.SetHardState(rd.HardState))
	}
	for _, e := range rd.CommittedEntries {
		if e.Type == EntryConfChange {
			var cc ConfChange
			assert.NoError(h.t, cc.Unmarshal(e.Data))
			cs := h.n.ApplyConfChange(cc)
			h.mu.Lock()
			h.confState = *cs
			h.mu.Unlock()
		}
	}
	h.mu.Lock()
	if rd.SoftState != nil {
		h.soft = *rd.SoftState
	}
	h.readStates = append(h.readStates, rd.ReadStates...)
	h.applied = append(h.applied, rd.CommittedEntries...)
	h.mu.Unlock()
	h.n.Advance()
}

// runUntil handles Readys on the calling goroutine until cond holds.
func (h *nodeHost) runUntil(ctx context.Context, what string, cond func() bool) {
	h.t.Helper()
	for !cond() {
		select {
		case rd := <-h.n.Ready():
			h.handle(rd)
		case <-ctx.Done():
			h.t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

func (h *nodeHost) softState() SoftState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.soft
}

func (h *nodeHost) appliedIndex() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.applied) == 0 {
		return 0
	}
	return h.applied[len(h.applied)-1].Index
}

// appliedData returns the data of the non-empty normal entries applied.
func (h *nodeHost) appliedData() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.applied {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func (h *nodeHost) hasApplied(data string) func() bool {
	return func() bool {
		for _, d := range h.appliedData() {
			if d == data {
				return true
			}
		}
		return false
	}
}

// bootstrap handles Readys until the node applied its bootstrap entries. A
// node does not campaign before that: it would not know its membership.
func (h *nodeHost) bootstrap(ctx context.Context, peers int) {
	h.t.Helper()
	h.runUntil(ctx, "the bootstrap entries to apply", func() bool { return h.appliedIndex() >= uint64(peers) })
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

// startLeader starts a single-voter node, makes it campaign and handles
// Readys until it leads and has applied the empty entry of its term, so
// that it can serve proposals and reads.
func startLeader(t *testing.T, ctx context.Context) (Node, *nodeHost) {
	s := NewMemoryStorage()
	n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
	t.Cleanup(n.Stop)
	h := newNodeHost(t, n, s)
	h.bootstrap(ctx, 1)
	require.NoError(t, n.Campaign(ctx))
	h.runUntil(ctx, "leadership", func() bool {
		// Index 1 is the bootstrap entry, 2 the leader's empty entry.
		return h.softState().RaftState == StateLeader && h.appliedIndex() >= 2
	})
	return n, h
}

func TestNodeCampaignThenProposeCommits(t *testing.T) {
	ctx := testContext(t)
	s := NewMemoryStorage()
	n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
	defer n.Stop()
	h := newNodeHost(t, n, s)

	h.bootstrap(ctx, 1)
	require.NoError(t, n.Campaign(ctx))
	h.runUntil(ctx, "leadership", func() bool { return h.softState().RaftState == StateLeader })
	require.Equal(t, SoftState{Lead: 1, RaftState: StateLeader}, h.softState())

	require.NoError(t, n.Propose(ctx, []byte("hello")))
	h.runUntil(ctx, "the proposal to apply", h.hasApplied("hello"))
	require.Equal(t, []string{"hello"}, h.appliedData())

	// The host persisted the entry before it was applied.
	last, err := s.LastIndex()
	require.NoError(t, err)
	ents, err := s.Entries(last, last+1, noLimit)
	require.NoError(t, err)
	require.Equal(t, "hello", string(ents[0].Data))
	st := n.Status()
	require.Equal(t, last, st.Commit)
	require.Equal(t, last, st.Applied)
	hs, _, err := s.InitialState()
	require.NoError(t, err)
	require.Equal(t, st.HardState, hs)
}

func TestNodeProposeWithoutLeaderIsDropped(t *testing.T) {
	ctx := testContext(t)
	n := StartNode(nodeConfig(1, NewMemoryStorage()), []Peer{{ID: 1}})
	defer n.Stop()
	require.ErrorIs(t, n.Propose(ctx, []byte("x")), ErrProposalDropped)
}

func TestNodeProposeWithDoneContext(t *testing.T) {
	n, _ := startLeader(t, testContext(t))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, n.Propose(ctx, []byte("x")), context.Canceled)
	require.ErrorIs(t, n.ProposeConfChange(ctx, ConfChange{}), context.Canceled)
	require.ErrorIs(t, n.Campaign(ctx), context.Canceled)
	require.ErrorIs(t, n.ReadIndex(ctx, nil), context.Canceled)
	require.ErrorIs(t, n.Step(ctx, Message{Type: MsgHeartbeat, From: 1, Term: 1}), context.Canceled)
	n.TransferLeadership(ctx, 1, 1) // returns at once

	ctx, cancel = context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	require.ErrorIs(t, n.Propose(ctx, []byte("x")), context.DeadlineExceeded)
}

// A caller that gives up while its request runs gets the context's error;
// the request itself completes.
func TestNodeRequestHonoursContextWhileWaiting(t *testing.T) {
	n := StartNode(nodeConfig(1, NewMemoryStorage()), []Peer{{ID: 1}}).(*node)
	defer n.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	ran := make(chan struct{})
	go func() {
		// The caller gives up while fn runs; fn finishes only after.
		<-ran
		cancel()
	}()
	err := n.do(ctx, func(*RawNode) error {
		close(ran)
		<-returned
		return nil
	})
	close(returned)
	require.ErrorIs(t, err, context.Canceled)
	// The node goes on serving.
	require.Equal(t, uint64(1), n.Status().ID)
}

// A caller whose request waits for a busy node gives up when its context
// is done. The synctest bubble lets the test know the caller is waiting.
func TestNodeRequestHonoursContextWhileNodeBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := StartNode(nodeConfig(1, NewMemoryStorage()), []Peer{{ID: 1}}).(*node)
		release := make(chan struct{})
		n.post(func(*RawNode) error {
			<-release
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		go func() { errs <- n.Propose(ctx, []byte("x")) }()
		go func() { errs <- n.Step(ctx, Message{Type: MsgHeartbeat, From: 1, Term: 1}) }()
		synctest.Wait() // both callers wait for the node
		cancel()
		require.ErrorIs(t, <-errs, context.Canceled)
		require.ErrorIs(t, <-errs, context.Canceled)
		close(release)
		n.Stop()
	})
}

func TestNodeAfterStop(t *testing.T) {
	ctx := testContext(t)
	n, _ := startLeader(t, ctx)
	n.Stop()

	require.ErrorIs(t, n.Propose(ctx, []byte("x")), ErrStopped)
	require.ErrorIs(t, n.ProposeConfChange(ctx, ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: 2}}}), ErrStopped)
	require.ErrorIs(t, n.Campaign(ctx), ErrStopped)
	require.ErrorIs(t, n.ReadIndex(ctx, []byte("r")), ErrStopped)
	require.ErrorIs(t, n.Step(ctx, Message{Type: MsgProp, Entries: []Entry{{}}}), ErrStopped)
	require.ErrorIs(t, n.Step(ctx, Message{Type: MsgHeartbeat, From: 1, Term: 1}), ErrStopped)
	require.Equal(t, Status{}, n.Status())
	require.Equal(t, &ConfState{}, n.ApplyConfChange(ConfChange{}))
	// None of these block.
	n.Tick()
	n.Advance()
	n.TransferLeadership(ctx, 1, 1)
	n.ReportUnreachable(2)
	n.ReportSnapshot(2, SnapshotFailure)
}

func TestNodeStopTwice(t *testing.T) {
	n := StartNode(nodeConfig(1, NewMemoryStorage()), []Peer{{ID: 1}})
	n.Stop()
	n.Stop()
	requireExited(t, n)
}

func TestNodeStopConcurrently(t *testing.T) {
	n := StartNode(nodeConfig(1, NewMemoryStorage()), []Peer{{ID: 1}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			n.Stop()
			// Every Stop returns only once the goroutine has exited.
			requireExited(t, n)
		})
	}
	wg.Wait()
}

func requireExited(t *testing.T, n Node) {
	select {
	case <-n.(*node).donec:
	default:
		t.Error("Stop returned before the node's goroutine exited")
	}
}

// nodeGoroutines counts the goroutines running a node.
func nodeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "raft.(*node).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestNodeStopLeavesNoGoroutine(t *testing.T) {
	ctx := testContext(t)
	before := runtime.NumGoroutine()
	for range 5 {
		s := NewMemoryStorage()
		n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
		h := newNodeHost(t, n, s)
		h.bootstrap(ctx, 1)
		require.NoError(t, n.Campaign(ctx))
		h.runUntil(ctx, "leadership", func() bool { return h.softState().RaftState == StateLeader })
		require.NoError(t, n.Propose(ctx, []byte("x")))
		// Stop with a Ready outstanding and requests in flight.
		go n.Tick()
		n.Stop()
	}
	// A stopped node's goroutine has done its last work (closing donec)
	// when Stop returns, but the runtime may list it a moment longer; so
	// may the goroutines that called Tick. Retry a bounded number of times.
	after, running := runtime.NumGoroutine(), nodeGoroutines()
	for i := 0; i < 1000 && (after > before || running > 0); i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		after, running = runtime.NumGoroutine(), nodeGoroutines()
	}
	require.Equal(t, 0, running, "node goroutines still running")
	require.LessOrEqual(t, after, before, "goroutines leaked")
}

// In a synctest bubble, Test fails if a goroutine of the bubble outlives
// the test function: this proves Stop leaves nothing behind, whatever the
// node was doing.
func TestNodeStopLeavesNoGoroutineSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := NewMemoryStorage()
		n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
		h := newNodeHost(t, n, s)
		h.bootstrap(ctx, 1)
		require.NoError(t, n.Campaign(ctx))
		h.runUntil(ctx, "leadership", func() bool { return h.softState().RaftState == StateLeader })
		require.NoError(t, n.Propose(ctx, []byte("x")))
		n.ReportUnreachable(2)
		n.Stop()
	})
}

func TestRestartNodeResumes(t *testing.T) {
	ctx := testContext(t)
	s := NewMemoryStorage()
	n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
	h := newNodeHost(t, n, s)
	h.bootstrap(ctx, 1)
	require.NoError(t, n.Campaign(ctx))
	h.runUntil(ctx, "leadership", func() bool { return h.softState().RaftState == StateLeader })
	require.NoError(t, n.Propose(ctx, []byte("a")))
	h.runUntil(ctx, "a to apply", h.hasApplied("a"))
	before := n.Status()
	n.Stop()
	// The host keeps its membership with its state machine: here in a
	// snapshot of all it applied. A restarted node learns its membership
	// from the snapshot and the configuration entries after it.
	cs := h.confState
	_, err := s.CreateSnapshot(h.appliedIndex(), &cs, []byte("state"))
	require.NoError(t, err)

	cfg := nodeConfig(1, s)
	cfg.Applied = h.appliedIndex()
	n = RestartNode(cfg)
	defer n.Stop()
	after := n.Status()
	require.Equal(t, before.Term, after.Term)
	require.Equal(t, before.Commit, after.Commit)
	require.Equal(t, before.Vote, after.Vote)
	require.Equal(t, cfg.Applied, after.Applied)
	require.Equal(t, StateFollower, after.RaftState)
	require.Equal(t, []uint64{1}, after.Config.Voters)

	// It leads again in a later term, and applies only what is new.
	h2 := newNodeHost(t, n, s)
	require.NoError(t, n.Campaign(ctx))
	h2.runUntil(ctx, "leadership", func() bool { return h2.softState().RaftState == StateLeader })
	require.Greater(t, n.Status().Term, before.Term)
	require.NoError(t, n.Propose(ctx, []byte("b")))
	h2.runUntil(ctx, "b to apply", h2.hasApplied("b"))
	require.Equal(t, []string{"b"}, h2.appliedData())
}

func TestNodeReadIndex(t *testing.T) {
	ctx := testContext(t)
	n, h := startLeader(t, ctx)
	require.NoError(t, n.ReadIndex(ctx, []byte("req-1")))
	h.runUntil(ctx, "the read state", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.readStates) > 0
	})
	require.Equal(t, []ReadState{{Index: n.Status().Commit, RequestCtx: []byte("req-1")}}, h.readStates)
}

func TestNodeProposeConfChangeAddsLearner(t *testing.T) {
	ctx := testContext(t)
	n, h := startLeader(t, ctx)
	cc := ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 2}}}
	require.NoError(t, n.ProposeConfChange(ctx, cc))
	h.runUntil(ctx, "the learner to be added", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.confState.Learners) > 0
	})
	require.Equal(t, []uint64{1}, h.confState.Voters)
	require.Equal(t, []uint64{2}, h.confState.Learners)
	st := n.Status()
	require.Equal(t, []uint64{1}, st.Config.Voters)
	require.Equal(t, []uint64{2}, st.Config.Learners)
	require.Contains(t, st.Progress, uint64(2))
	require.True(t, st.Progress[2].IsLearner)

	// An invalid change is refused by the node, synchronously.
	bad := ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeRemoveNode, NodeID: 1}}}
	require.ErrorIs(t, n.ProposeConfChange(ctx, bad), ErrInvalidConfChange)
}

func TestNodeTransferLeadershipOnSingleNodeIsHarmless(t *testing.T) {
	ctx := testContext(t)
	n, h := startLeader(t, ctx)
	n.TransferLeadership(ctx, 1, 1) // to itself
	n.TransferLeadership(ctx, 1, 9) // to a non-member
	st := n.Status()
	require.Equal(t, StateLeader, st.RaftState)
	require.Equal(t, None, st.LeadTransferee)
	require.NoError(t, n.Propose(ctx, []byte("still leading")))
	h.runUntil(ctx, "the proposal to apply", h.hasApplied("still leading"))
}

func TestNodeReportsDoNotBlock(t *testing.T) {
	ctx := testContext(t)
	n, _ := startLeader(t, ctx)
	// A Ready may be waiting to be received: nobody reads it here.
	require.NoError(t, n.Propose(ctx, []byte("x")))
	for range 100 {
		n.ReportUnreachable(2)
		n.ReportSnapshot(2, SnapshotFinish)
		n.ReportSnapshot(2, SnapshotFailure)
	}
	require.Equal(t, StateLeader, n.Status().RaftState)
}

// countingLogger counts the lines logged at warning level.
type countingLogger struct {
	discardLogger
	warnings atomic.Int64
}

func (l *countingLogger) Warningf(string, ...any) { l.warnings.Add(1) }

func TestNodeTickNeverBlocks(t *testing.T) {
	logger := &countingLogger{}
	cfg := nodeConfig(1, NewMemoryStorage())
	cfg.Logger = logger
	n := StartNode(cfg, []Peer{{ID: 1}}).(*node)
	defer n.Stop()

	// Keep the node's goroutine busy, so that ticks pile up.
	release := make(chan struct{})
	n.post(func(*RawNode) error {
		<-release
		return nil
	})
	for range tickBuffer + 10 {
		n.Tick()
	}
	require.Equal(t, int64(10), logger.warnings.Load(), "ticks past the buffer are dropped with a warning")
	close(release)
	require.Equal(t, uint64(1), n.Status().ID)
}

func TestNodeReadyWaitsForAdvance(t *testing.T) {
	ctx := testContext(t)
	s := NewMemoryStorage()
	n := StartNode(nodeConfig(1, s), []Peer{{ID: 1}})
	defer n.Stop()
	h := newNodeHost(t, n, s)

	var rd Ready
	select {
	case rd = <-n.Ready():
	case <-ctx.Done():
		t.Fatal("no Ready after StartNode")
	}
	require.Len(t, rd.Entries, 1, "the bootstrap entry")
	// The node serves requests while the host holds the Ready...
	require.ErrorIs(t, n.Propose(ctx, []byte("x")), ErrProposalDropped)
	// ...and Status is a round trip through its goroutine, so by now it
	// would be offering a Ready if it ever did before Advance.
	_ = n.Status()
	select {
	case <-n.Ready():
		t.Fatal("a second Ready was offered before Advance")
	default:
	}
	h.handle(rd)
	require.NoError(t, n.Campaign(ctx))
	h.runUntil(ctx, "leadership", func() bool { return h.softState().RaftState == StateLeader })
}

func TestNodeStep(t *testing.T) {
	ctx := testContext(t)
	n, h := startLeader(t, ctx)
	for _, typ := range []MessageType{MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum} {
		require.ErrorIs(t, n.Step(ctx, Message{Type: typ, From: 1}), ErrStepLocalMsg, "%s", typ)
	}
	// A response from a node that is not a member is ignored.
	term := n.Status().Term
	require.NoError(t, n.Step(ctx, Message{Type: MsgAppResp, From: 7, To: 1, Term: term, Index: 100}))
	require.NoError(t, n.Step(ctx, Message{Type: MsgHeartbeatResp, From: 7, To: 1, Term: term}))
	// A message for another node is refused, and only logged.
	require.NoError(t, n.Step(ctx, Message{Type: MsgHeartbeat, From: 2, To: 3, Term: term}))
	require.Equal(t, StateLeader, n.Status().RaftState)

	// A proposal is waited for: on the leader it is appended and commits.
	require.NoError(t, n.Step(ctx, Message{Type: MsgProp, From: 2, Entries: []Entry{{Data: []byte("via step")}}}))
	h.runUntil(ctx, "the proposal to apply", h.hasApplied("via step"))
	// Its error comes back too.
	require.ErrorIs(t, n.Step(ctx, Message{Type: MsgProp, From: 2}), ErrProposalDropped)
}

func TestStartNodePanicsOnMisuse(t *testing.T) {
	require.PanicsWithValue(t,
		"raft: StartNode needs the peers of the new cluster; use RestartNode to resume from storage",
		func() { StartNode(nodeConfig(1, NewMemoryStorage()), nil) })

	bad := nodeConfig(0, NewMemoryStorage())
	require.Panics(t, func() { StartNode(bad, []Peer{{ID: 1}}) })
	require.Panics(t, func() { RestartNode(bad) })

	s := NewMemoryStorage()
	require.NoError(t, s.Append([]Entry{{Term: 1, Index: 1}}))
	require.Panics(t, func() { StartNode(nodeConfig(1, s), []Peer{{ID: 1}}) }, "bootstrap over a non-empty storage")
}

// TestNodeClusterElectsAndCommits runs three Nodes, each with its host
// goroutine, connected by channels. It runs in a synctest bubble: the 1ms
// tick is on a fake clock that moves only when every goroutine waits, so a
// slow machine cannot cause an election, and the test runs without
// sleeping.
func TestNodeClusterElectsAndCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		ids := []uint64{1, 2, 3}
		peers := []Peer{{ID: 1}, {ID: 2}, {ID: 3}}
		inbox := map[uint64]chan Message{}
		for _, id := range ids {
			inbox[id] = make(chan Message, 1024)
		}
		send := func(m Message) {
			select {
			case inbox[m.To] <- m:
			default: // a full link drops, as a network would
			}
		}

		hosts := map[uint64]*nodeHost{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, id := range ids {
			s := NewMemoryStorage()
			h := newNodeHost(t, StartNode(nodeConfig(id, s), peers), s)
			h.send = send
			hosts[id] = h
			wg.Go(func() {
				ticker := time.NewTicker(time.Millisecond)
				defer ticker.Stop()
				for {
					select {
					case <-ticker.C:
						h.n.Tick()
					case rd := <-h.n.Ready():
						h.handle(rd)
					case m := <-inbox[id]:
						_ = h.n.Step(ctx, m)
					case <-stop:
						return
					}
				}
			})
		}

		// Wait until every node follows the same leader.
		var lead uint64
		for i := 0; lead == None; i++ {
			require.Less(t, i, 1000, "no leader elected")
			time.Sleep(time.Millisecond)
			l := hosts[1].softState().Lead
			if l != None && hosts[2].softState().Lead == l && hosts[3].softState().Lead == l {
				lead = l
			}
		}
		require.Equal(t, StateLeader, hosts[lead].softState().RaftState)

		// Propose through every node: followers forward to the leader.
		var want []string
		for i := range 9 {
			id := ids[i%len(ids)]
			data := fmt.Sprintf("v%d-via-%d", i, id)
			require.NoError(t, hosts[id].n.Propose(ctx, []byte(data)))
			want = append(want, data)
		}
		for i := 0; ; i++ {
			require.Less(t, i, 1000, "proposals not applied everywhere")
			done := true
			for _, id := range ids {
				done = done && len(hosts[id].appliedData()) >= len(want)
			}
			if done {
				break
			}
			time.Sleep(time.Millisecond)
		}
		// Every node applied the same sequence, holding every proposal.
		got := hosts[1].appliedData()
		require.ElementsMatch(t, want, got)
		for _, id := range ids[1:] {
			require.Equal(t, got, hosts[id].appliedData(), "node %d", id)
		}

		close(stop)
		wg.Wait()
		for _, id := range ids {
			hosts[id].n.Stop()
		}
	})
}
