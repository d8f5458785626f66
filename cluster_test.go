package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// testNode is one member of a testCluster: a RawNode over MemoryStorage and
// the entries its host applied.
type testNode struct {
	rn      *RawNode
	storage *MemoryStorage
	applied []Entry
	// confState is the configuration the host last applied.
	confState ConfState
}

// testCluster runs RawNodes in one goroutine and delivers their messages by
// hand, so that a test states its scenario in a few lines.
type testCluster struct {
	t     testing.TB
	nodes map[uint64]*testNode
	ids   []uint64
	// queue holds messages sent and not yet delivered, in order.
	queue []Message
	// cut holds the directed links that drop messages.
	cut map[[2]uint64]bool
	// dropTypes drops every message of these types.
	dropTypes map[MessageType]bool
	// drop, if set, drops every message for which it returns true.
	drop func(m Message) bool
	// observe, if set, sees every message deliver hands to a node.
	observe   func(m Message)
	configure func(*Config)
}

// newTestCluster bootstraps n voters with IDs 1..n.
func newTestCluster(t testing.TB, n int, configure ...func(*Config)) *testCluster {
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}, cut: map[[2]uint64]bool{}, dropTypes: map[MessageType]bool{}}
	c.configure = func(cfg *Config) {
		for _, f := range configure {
			f(cfg)
		}
	}
	var peers []Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, Peer{ID: id})
	}
	for _, p := range peers {
		c.addNode(p.ID, peers)
	}
	c.stabilize()
	return c
}

func (c *testCluster) config(id uint64, s *MemoryStorage) *Config {
	cfg := &Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
		Logger:          DiscardLogger,
	}
	c.configure(cfg)
	return cfg
}

// addNode starts node id over empty storage, bootstrapped with peers if any.
func (c *testCluster) addNode(id uint64, peers []Peer) *testNode {
	s := NewMemoryStorage()
	rn, err := NewRawNode(c.config(id, s))
	require.NoError(c.t, err)
	if len(peers) > 0 {
		require.NoError(c.t, rn.Bootstrap(peers))
	}
	n := &testNode{rn: rn, storage: s}
	c.nodes[id] = n
	c.ids = append(c.ids, id)
	slices.Sort(c.ids)
	return n
}

// restart rebuilds node id from what it persisted; the state machine starts
// over from the snapshot.
func (c *testCluster) restart(id uint64) {
	old := c.nodes[id]
	snap, err := old.storage.Snapshot()
	require.NoError(c.t, err)
	cfg := c.config(id, old.storage)
	cfg.Applied = snap.Metadata.Index
	rn, err := NewRawNode(cfg)
	require.NoError(c.t, err)
	c.nodes[id] = &testNode{rn: rn, storage: old.storage, confState: snap.Metadata.ConfState}
	// Drop what was in flight to or from the node.
	c.queue = slices.DeleteFunc(c.queue, func(m Message) bool { return m.To == id || m.From == id })
}

// handleReady runs one Ready cycle of node id, following the contract:
// persist, queue the messages, apply, Advance. It reports whether there
// was work.
func (c *testCluster) handleReady(id uint64) bool {
	n := c.nodes[id]
	if !n.rn.HasReady() {
		return false
	}
	rd := n.rn.Ready()
	c.queue = append(c.queue, rd.Messages...)
	if !IsEmptySnap(rd.Snapshot) {
		require.NoError(c.t, n.storage.ApplySnapshot(rd.Snapshot))
		n.confState = rd.Snapshot.Metadata.ConfState
	}
	require.NoError(c.t, n.storage.Append(rd.Entries))
	if !IsEmptyHardState(rd.HardState) {
		require.NoError(c.t, n.storage.SetHardState(rd.HardState))
	}
	for _, e := range rd.CommittedEntries {
		if e.Type == EntryConfChange {
			var cc ConfChange
			require.NoError(c.t, cc.Unmarshal(e.Data))
			n.confState = *n.rn.ApplyConfChange(cc)
		}
		n.applied = append(n.applied, e)
	}
	n.rn.Advance(rd)
	return true
}

// deliver delivers the queued messages once, dropping those on cut links.
func (c *testCluster) deliver() bool {
	msgs := c.queue
	c.queue = nil
	for _, m := range msgs {
		if c.cut[[2]uint64{m.From, m.To}] || c.dropTypes[m.Type] || (c.drop != nil && c.drop(m)) {
			continue
		}
		if c.observe != nil {
			c.observe(m)
		}
		if n, ok := c.nodes[m.To]; ok {
			_ = n.rn.Step(m)
		}
	}
	return len(msgs) > 0
}

// stabilize runs Ready cycles and delivers messages until nothing moves.
func (c *testCluster) stabilize() {
	for range 10000 {
		busy := false
		for _, id := range c.ids {
			if c.handleReady(id) {
				busy = true
			}
		}
		if c.deliver() {
			busy = true
		}
		if !busy {
			return
		}
	}
	c.t.Fatal("cluster did not stabilize")
}

// tick ticks node id n times, handling what each tick produces.
func (c *testCluster) tick(id uint64, n int) {
	for range n {
		c.nodes[id].rn.Tick()
		c.stabilize()
	}
}

// tickAll ticks every node n times.
func (c *testCluster) tickAll(n int) {
	for range n {
		for _, id := range c.ids {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
	}
}

func (c *testCluster) campaign(id uint64) {
	require.NoError(c.t, c.nodes[id].rn.Campaign())
	c.stabilize()
}

// isolate cuts every link to and from id.
func (c *testCluster) isolate(id uint64) {
	for _, other := range c.ids {
		if other != id {
			c.cut[[2]uint64{id, other}] = true
			c.cut[[2]uint64{other, id}] = true
		}
	}
}

// partition cuts every link between the groups.
func (c *testCluster) partition(groups ...[]uint64) {
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					c.cut[[2]uint64{a, b}] = true
				}
			}
		}
	}
}

// heal restores every link.
func (c *testCluster) heal() {
	clear(c.cut)
	clear(c.dropTypes)
}

func (c *testCluster) propose(id uint64, data string) error {
	err := c.nodes[id].rn.Propose([]byte(data))
	c.stabilize()
	return err
}

func (c *testCluster) status(id uint64) Status { return c.nodes[id].rn.Status() }

func (c *testCluster) raft(id uint64) *raft { return c.nodes[id].rn.raft }

// leader returns the ID of the node that is leader in the highest term, or
// None.
func (c *testCluster) leader() uint64 {
	var lead, term uint64
	for _, id := range c.ids {
		r := c.raft(id)
		if r.state == StateLeader && r.Term >= term {
			lead, term = id, r.Term
		}
	}
	return lead
}

// appliedData returns the data of the normal, non-empty entries node id
// applied.
func (c *testCluster) appliedData(id uint64) []string {
	var out []string
	for _, e := range c.nodes[id].applied {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func TestClusterElectsAndCommits(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	require.Equal(t, uint64(1), c.leader())
	for i := range 5 {
		require.NoError(t, c.propose(1, fmt.Sprintf("v%d", i)))
	}
	want := []string{"v0", "v1", "v2", "v3", "v4"}
	for _, id := range c.ids {
		require.Equal(t, want, c.appliedData(id), "node %d", id)
	}
}

func TestSingleVoterCommits(t *testing.T) {
	c := newTestCluster(t, 1)
	c.campaign(1)
	require.Equal(t, uint64(1), c.leader())
	require.NoError(t, c.propose(1, "a"))
	require.Equal(t, []string{"a"}, c.appliedData(1))
}

func TestRestartResumesHardState(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.propose(1, "a"))
	before := c.status(2)
	c.restart(2)
	after := c.status(2)
	require.Equal(t, before.HardState, after.HardState)
	c.stabilize()
	require.NoError(t, c.propose(1, "b"))
	require.Equal(t, []string{"a", "b"}, c.appliedData(2)[len(c.appliedData(2))-2:])
}

// newStorageWithLog returns storage as a node would have left it: entries
// with the given terms at indexes 1, 2, ..., the membership voters, and hs.
// The membership is recorded in a snapshot at index 1 that compacts nothing,
// so terms must not be empty and hs.Commit must be at least 1.
func newStorageWithLog(t testing.TB, voters []uint64, terms []uint64, hs HardState) *MemoryStorage {
	require.NotEmpty(t, terms, "the log must hold at least one entry")
	require.GreaterOrEqual(t, hs.Commit, uint64(1), "the snapshot at index 1 is committed")
	s := NewMemoryStorage()
	ents := make([]Entry, len(terms))
	for i, term := range terms {
		ents[i] = Entry{Index: uint64(i + 1), Term: term}
	}
	require.NoError(t, s.Append(ents))
	_, err := s.CreateSnapshot(1, &ConfState{Voters: voters}, nil)
	require.NoError(t, err)
	require.NoError(t, s.SetHardState(hs))
	return s
}

// newTestClusterFromStorage starts one node over each storage, without
// bootstrapping: every node resumes from what its storage holds.
func newTestClusterFromStorage(t testing.TB, storages map[uint64]*MemoryStorage, configure ...func(*Config)) *testCluster {
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}, cut: map[[2]uint64]bool{}, dropTypes: map[MessageType]bool{}}
	c.configure = func(cfg *Config) {
		for _, f := range configure {
			f(cfg)
		}
	}
	for id, s := range storages {
		_, cs, err := s.InitialState()
		require.NoError(t, err)
		rn, err := NewRawNode(c.config(id, s))
		require.NoError(t, err)
		c.nodes[id] = &testNode{rn: rn, storage: s, confState: cs}
		c.ids = append(c.ids, id)
	}
	slices.Sort(c.ids)
	return c
}

// logTerms returns the terms of node id's log, persisted or not, from its
// first index to its last.
func (c *testCluster) logTerms(id uint64) []uint64 {
	l := c.raft(id).raftLog
	var terms []uint64
	for i := l.firstIndex(); i <= l.lastIndex(); i++ {
		term, err := l.term(i)
		require.NoError(c.t, err)
		terms = append(terms, term)
	}
	return terms
}

// take removes and returns the messages queued and not yet delivered.
func (c *testCluster) take() []Message {
	msgs := c.queue
	c.queue = nil
	return msgs
}

// countDelivered runs f and returns how many messages deliver handed to a
// node during it for which match returns true.
func (c *testCluster) countDelivered(match func(Message) bool, f func()) int {
	n := 0
	prev := c.observe
	c.observe = func(m Message) {
		if prev != nil {
			prev(m)
		}
		if match(m) {
			n++
		}
	}
	defer func() { c.observe = prev }()
	f()
	return n
}

// hold delays every message for which match returns true: deliver skips
// them until release puts them back in the queue, in the order they were
// sent.
func (c *testCluster) hold(match func(Message) bool) (release func()) {
	var held []Message
	prev := c.drop
	c.drop = func(m Message) bool {
		if prev != nil && prev(m) {
			return true
		}
		if match(m) {
			held = append(held, m)
			return true
		}
		return false
	}
	return func() {
		c.drop = prev
		c.queue = append(c.queue, held...)
		held = nil
	}
}

// output runs Ready cycles of node id until it has no work, and returns the
// messages it sent, without queueing them for delivery.
func (c *testCluster) output(id uint64) []Message {
	saved := c.queue
	c.queue = nil
	for c.handleReady(id) {
	}
	out := c.queue
	c.queue = saved
	return out
}

// step hands m to its addressee directly, bypassing the queue.
func (c *testCluster) step(m Message) error {
	return c.nodes[m.To].rn.Step(m)
}

// newClusterInRole returns a 3-node cluster in which node 1 plays role in a
// term of at least 3, over a log holding entries of several terms. Nodes 2
// and 3 are followers of the last leader, node 3, unless node 1 leads.
func newClusterInRole(t testing.TB, role StateType, configure ...func(*Config)) *testCluster {
	if role == StatePreCandidate {
		configure = append(configure, func(cfg *Config) { cfg.PreVote = true })
	}
	c := newTestCluster(t, 3, configure...)
	c.campaign(2)
	require.NoError(t, c.propose(2, "a"))
	// Hand over by transfer: with PreVote, followers that hear from a
	// leader refuse a plain campaign.
	c.nodes[2].rn.TransferLeader(3)
	c.stabilize()
	require.Equal(t, StateLeader, c.raft(3).state)
	require.NoError(t, c.propose(3, "b"))
	switch role {
	case StateCandidate, StatePreCandidate:
		c.isolate(1)
		c.campaign(1)
		c.heal()
	case StateLeader:
		c.nodes[3].rn.TransferLeader(1)
		c.stabilize()
	}
	require.Equal(t, role, c.raft(1).state)
	require.GreaterOrEqual(t, c.raft(1).Term, uint64(3))
	return c
}

var everyRole = []StateType{StateFollower, StatePreCandidate, StateCandidate, StateLeader}

// msgWithLastEntry returns a message of type typ from from to to that carries
// r's last entry as its (Index, LogTerm), as a candidate with r's log would.
func msgWithLastEntry(r *raft, typ MessageType, from, to, term uint64) Message {
	last := r.raftLog.lastEntryID()
	return Message{Type: typ, From: from, To: to, Term: term, Index: last.index, LogTerm: last.term}
}

// selectMsgs returns the messages of type typ to to in msgs.
// requireOneAppendEach asserts that msgs hold one MsgApp to each of ids,
// carrying ents.
func requireOneAppendEach(t *testing.T, msgs []Message, ents []Entry, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		apps := selectMsgs(msgs, MsgApp, id)
		require.Len(t, apps, 1, "appends to %d", id)
		require.Equal(t, ents, apps[0].Entries, "the append to %d", id)
	}
}

func selectMsgs(msgs []Message, typ MessageType, to uint64) []Message {
	var out []Message
	for _, m := range msgs {
		if m.Type == typ && m.To == to {
			out = append(out, m)
		}
	}
	return out
}
