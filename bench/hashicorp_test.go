package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// The hashicorp/raft driver. Its core is not a state machine the host drives
// but a set of goroutines per node, so there is no Ready cycle: the client
// keeps up to maxOutstandingApplies Apply futures in flight on the leader,
// over the library's in-memory log store, snapshot store and transport. The
// workload's batch (proposals per cycle) becomes MaxAppendEntries, the most
// entries the leader writes and replicates in one go: 1 for W1, 64 for the
// others, so W1 makes it commit entry by entry as the others do.

// hashicorpVersion is the version of github.com/hashicorp/raft in go.mod.
const hashicorpVersion = "v1.8.0"

func TestHashicorpVersion(t *testing.T) {
	checkRequire(t, "github.com/hashicorp/raft", hashicorpVersion)
}

func init() {
	register(driver{
		name:      "hashicorp-" + hashicorpVersion,
		order:     2,
		replicate: benchHashicorp,
	})
}

// maxOutstandingApplies bounds the Apply futures the client keeps in flight.
const maxOutstandingApplies = 1024

// hashicorpTimeout bounds every wait of the driver: an election, the
// followers catching up. It is far above what any takes.
const hashicorpTimeout = time.Minute

// hashicorpFSM counts the proposals applied; its snapshot is that count
// and the index it was taken at. It counts an entry only if its index is
// past the last one applied, so that an entry applied twice (around a
// snapshot restore) is counted once.
type hashicorpFSM struct {
	mu        sync.Mutex
	proposals int
	index     uint64 // of the last entry applied
	target    int
	reached   chan struct{} // closed when proposals reaches target
}

func (f *hashicorpFSM) Apply(l *hraft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.Index > f.index && len(l.Data) > 0 {
		f.proposals++
	}
	f.index = max(f.index, l.Index)
	f.notify()
	return nil
}

// notify closes reached once the target is reached. f.mu is held.
func (f *hashicorpFSM) notify() {
	if f.reached != nil && f.proposals >= f.target {
		close(f.reached)
		f.reached = nil
	}
}

// waitFor returns a channel that is closed once n proposals are applied.
func (f *hashicorpFSM) waitFor(n int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	if f.proposals >= n {
		close(ch)
		return ch
	}
	f.target, f.reached = n, ch
	return ch
}

func (f *hashicorpFSM) applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.proposals
}

func (f *hashicorpFSM) Snapshot() (hraft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return hashicorpSnapshot{proposals: uint64(f.proposals), index: f.index}, nil
}

func (f *hashicorpFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var buf [16]byte
	if _, err := io.ReadFull(rc, buf[:]); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposals = int(binary.BigEndian.Uint64(buf[:8]))
	f.index = binary.BigEndian.Uint64(buf[8:])
	f.notify()
	return nil
}

type hashicorpSnapshot struct{ proposals, index uint64 }

func (s hashicorpSnapshot) Persist(sink hraft.SnapshotSink) error {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], s.proposals)
	binary.BigEndian.PutUint64(buf[8:], s.index)
	if _, err := sink.Write(buf[:]); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (hashicorpSnapshot) Release() {}

type hashicorpCluster struct {
	tb         testing.TB
	nodes      []*hraft.Raft
	transports []*hraft.InmemTransport
	fsms       []*hashicorpFSM
	leader     *hraft.Raft
	futures    []hraft.ApplyFuture // a ring of the outstanding Applies
}

func newHashicorpCluster(tb testing.TB, w workload) *hashicorpCluster {
	c := &hashicorpCluster{tb: tb, futures: make([]hraft.ApplyFuture, maxOutstandingApplies)}
	var servers []hraft.Server
	for i := range w.voters {
		addr, trans := hraft.NewInmemTransport(hraft.ServerAddress(fmt.Sprintf("node%d", i+1)))
		c.transports = append(c.transports, trans)
		servers = append(servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(addr), Address: addr})
	}
	for i, a := range c.transports {
		for j, b := range c.transports {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i, trans := range c.transports {
		conf := hraft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.Logger = hclog.NewNullLogger()
		// Long enough that a busy 2-core machine does not depose the
		// leader in the middle of a run (100 ms did): the library's
		// defaults, with the leader lease as long as the heartbeat
		// timeout. A fresh cluster then takes 1 to 2 s to elect, outside
		// the measured time.
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = time.Second
		// Followers learn the last commit index within a few ms of the
		// last Apply, not the default 50 ms.
		conf.CommitTimeout = 2 * time.Millisecond
		conf.MaxAppendEntries = w.batch
		conf.BatchApplyCh = true
		// Snapshot and compact as the other drivers do.
		conf.SnapshotInterval = 100 * time.Millisecond
		conf.SnapshotThreshold = snapshotEvery
		conf.TrailingLogs = catchUpEntries

		store := hraft.NewInmemStore()
		snaps := hraft.NewInmemSnapshotStore()
		if err := hraft.BootstrapCluster(conf, store, store, snaps, trans, hraft.Configuration{Servers: servers}); err != nil {
			tb.Fatal(err)
		}
		fsm := &hashicorpFSM{}
		r, err := hraft.NewRaft(conf, fsm, store, store, snaps, trans)
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, r)
		c.fsms = append(c.fsms, fsm)
	}
	deadline := time.Now().Add(hashicorpTimeout)
	for c.leader == nil {
		for _, r := range c.nodes {
			if r.State() == hraft.Leader {
				c.leader = r
			}
		}
		if time.Now().After(deadline) {
			c.shutdown()
			tb.Fatal("hashicorp/raft elected no leader")
		}
		time.Sleep(time.Millisecond)
	}
	return c
}

func (c *hashicorpCluster) shutdown() {
	for _, r := range c.nodes {
		if err := r.Shutdown().Error(); err != nil {
			c.tb.Error(err)
		}
	}
	for _, t := range c.transports {
		_ = t.Close()
	}
}

// replicate applies n proposals of data on the leader, keeping up to
// maxOutstandingApplies in flight, and waits until every voter applied them.
func (c *hashicorpCluster) replicate(data []byte, n int) {
	var reached []<-chan struct{}
	for _, f := range c.fsms {
		reached = append(reached, f.waitFor(f.applied()+n))
	}
	for i := range n {
		slot := i % len(c.futures)
		if i >= len(c.futures) {
			c.wait(c.futures[slot])
		}
		c.futures[slot] = c.leader.Apply(data, 0)
	}
	for i := max(0, n-len(c.futures)); i < n; i++ {
		c.wait(c.futures[i%len(c.futures)])
	}
	clear(c.futures)
	timeout := time.After(hashicorpTimeout)
	for i, ch := range reached {
		select {
		case <-ch:
		case <-timeout:
			c.tb.Fatalf("node %d applied %d proposals, want %d", i+1, c.fsms[i].applied(), n)
		}
	}
}

func (c *hashicorpCluster) wait(f hraft.ApplyFuture) {
	if err := f.Error(); err != nil {
		c.tb.Fatal(err)
	}
}

func benchHashicorp(b *testing.B, w workload) {
	c := newHashicorpCluster(b, w)
	defer c.shutdown()
	data := payload(w.payload)
	c.replicate(data, warmupEntries)
	b.ReportAllocs()
	mallocs := startMallocs(b)
	c.replicate(data, b.N)
	b.StopTimer()
	reportThroughput(b)
	reportAllocsPerEntry(b, mallocs)
}
