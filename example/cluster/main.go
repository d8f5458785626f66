// Command cluster runs a three-node keelraft cluster in one process, in
// memory, and prints what happens: an election, proposals committing on every
// node, the leader crashing, a new election, and more commits.
//
// It drives RawNode by hand, one Ready loop per node, to show the whole
// contract in a few lines: send the messages, persist, apply, Advance.
package main

import (
	"flag"
	"fmt"
	"log"
	"slices"

	"github.com/keelraft/raft"
)

// node is one member: its RawNode, its "disk" and its state machine (the
// list of applied values).
type node struct {
	id      uint64
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	applied []string
	down    bool
}

// cluster delivers messages between nodes through an in-memory mailbox.
type cluster struct {
	nodes   map[uint64]*node
	ids     []uint64
	mailbox []raft.Message
}

func main() {
	proposals := flag.Int("proposals", 5, "proposals per leader")
	flag.Parse()

	c := newCluster(3)
	lead := c.waitForLeader()
	fmt.Printf("node %d is leader\n", lead)
	c.proposeAll(lead, "a", *proposals)

	fmt.Printf("crashing leader %d\n", lead)
	c.nodes[lead].down = true
	newLead := c.waitForLeader()
	fmt.Printf("node %d is the new leader\n", newLead)
	c.proposeAll(newLead, "b", *proposals)

	fmt.Printf("restarting node %d\n", lead)
	c.restart(lead)
	c.run(50)
	for _, id := range c.ids {
		fmt.Printf("node %d applied %v\n", id, c.nodes[id].applied)
	}
}

func newCluster(n int) *cluster {
	c := &cluster{nodes: map[uint64]*node{}}
	var peers []raft.Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, raft.Peer{ID: id})
		c.ids = append(c.ids, id)
	}
	for _, p := range peers {
		nd := &node{id: p.ID, storage: raft.NewMemoryStorage()}
		nd.rn = mustRawNode(nd.config(0))
		if err := nd.rn.Bootstrap(peers); err != nil {
			log.Fatal(err)
		}
		c.nodes[p.ID] = nd
	}
	return c
}

func (nd *node) config(applied uint64) *raft.Config {
	return &raft.Config{
		ID:              nd.id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         nd.storage,
		Applied:         applied,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raft.DiscardLogger,
	}
}

func mustRawNode(cfg *raft.Config) *raft.RawNode {
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return rn
}

// restart brings a crashed node back over what it persisted. Its state
// machine starts empty and is rebuilt from the committed log.
func (c *cluster) restart(id uint64) {
	nd := c.nodes[id]
	nd.rn = mustRawNode(nd.config(0))
	nd.applied = nil
	nd.down = false
}

// run ticks every live node n times, handling Readys and delivering
// messages after each tick.
func (c *cluster) run(n int) {
	for range n {
		for _, id := range c.ids {
			if !c.nodes[id].down {
				c.nodes[id].rn.Tick()
			}
		}
		c.settle()
	}
}

// settle handles Readys and delivers messages until nothing moves.
func (c *cluster) settle() {
	for {
		busy := false
		for _, id := range c.ids {
			if c.handleReady(c.nodes[id]) {
				busy = true
			}
		}
		mail := c.mailbox
		c.mailbox = nil
		for _, m := range mail {
			if to := c.nodes[m.To]; !to.down && !c.nodes[m.From].down {
				_ = to.rn.Step(m)
			}
		}
		if !busy && len(mail) == 0 {
			return
		}
	}
}

// handleReady is the Ready loop of one node, in the order the contract
// asks for.
func (c *cluster) handleReady(nd *node) bool {
	if nd.down || !nd.rn.HasReady() {
		return false
	}
	rd := nd.rn.Ready()
	// 1. Messages may leave at once, while the node persists.
	c.mailbox = append(c.mailbox, rd.Messages...)
	// 2. Persist.
	if !raft.IsEmptySnap(rd.Snapshot) {
		must(nd.storage.ApplySnapshot(rd.Snapshot))
	}
	must(nd.storage.Append(rd.Entries))
	if !raft.IsEmptyHardState(rd.HardState) {
		must(nd.storage.SetHardState(rd.HardState))
	}
	if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader {
		fmt.Printf("  node %d: became leader at term %d\n", nd.id, nd.rn.Status().Term)
	}
	// 3. Apply.
	for _, e := range rd.CommittedEntries {
		switch e.Type {
		case raft.EntryConfChange:
			var cc raft.ConfChange
			must(cc.Unmarshal(e.Data))
			nd.rn.ApplyConfChange(cc)
		case raft.EntryNormal:
			if len(e.Data) > 0 {
				nd.applied = append(nd.applied, string(e.Data))
				fmt.Printf("  node %d: applied %q at index %d\n", nd.id, e.Data, e.Index)
			}
		}
	}
	// 4. Advance.
	nd.rn.Advance(rd)
	return true
}

// waitForLeader ticks until a live node leads, and returns it.
func (c *cluster) waitForLeader() uint64 {
	for range 1000 {
		c.run(1)
		for _, id := range c.ids {
			nd := c.nodes[id]
			if !nd.down && nd.rn.Status().RaftState == raft.StateLeader {
				return id
			}
		}
	}
	log.Fatal("no leader elected")
	return 0
}

// proposeAll proposes n values on the leader and waits until they applied
// on every live node.
func (c *cluster) proposeAll(lead uint64, prefix string, n int) {
	for i := range n {
		v := fmt.Sprintf("%s%d", prefix, i)
		if err := c.nodes[lead].rn.Propose([]byte(v)); err != nil {
			log.Fatalf("propose %s: %v", v, err)
		}
		fmt.Printf("proposed %q on node %d\n", v, lead)
		c.settle()
	}
	for _, id := range c.ids {
		nd := c.nodes[id]
		if nd.down {
			continue
		}
		if !slices.Contains(nd.applied, fmt.Sprintf("%s%d", prefix, n-1)) {
			log.Fatalf("node %d did not apply the proposals", id)
		}
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
