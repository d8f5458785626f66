// Package bench compares keelraft with other Raft libraries on the same
// workloads, in the same `go test -bench` run, so that the ratios between them
// hold on a noisy machine. Every benchmark has one sub-benchmark per library:
// BenchmarkW3/keelraft, BenchmarkW3/etcd-v3.7.0, BenchmarkW3/hashicorp-v1.8.0.
//
// W1 to W4 replicate entries; one benchmark op is one entry applied on every
// voter, so ns/op, B/op and allocs/op are per entry, and the entries/s metric
// is b.N over the measured time. W5 encodes and decodes one append message.
//
// Each library has a driver in a file of its own (keelraft_test.go,
// etcd_test.go, hashicorp_test.go) that registers itself in init. The
// etcd36 directory is a second module that measures etcd/raft v3.6.0, which
// cannot share a build with v3.7.0 (same module path); it links this file and
// keelraft_test.go, so keelraft is measured in that run too.
package bench

import (
	"cmp"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A workload is one of the replication workloads W1 to W4.
type workload struct {
	name    string
	voters  int
	payload int // bytes of data in each proposal
	batch   int // proposals handed to the leader per Ready cycle
}

var replicationWorkloads = []workload{
	{name: "W1", voters: 1, payload: 128, batch: 1},
	{name: "W2", voters: 1, payload: 128, batch: 64},
	{name: "W3", voters: 3, payload: 128, batch: 64},
	{name: "W4", voters: 3, payload: 4 << 10, batch: 64},
}

// The same host policy for every library.
const (
	// warmupEntries are replicated on each fresh cluster before the timer
	// starts, so that slices and maps have grown to their working size.
	warmupEntries = 2048
	// snapshotEvery is how many entries a node applies between two
	// snapshots; each snapshot is followed by a compaction of its log, so
	// that memory stays bounded however large b.N is.
	snapshotEvery = 10_000
	// catchUpEntries are kept in the log behind each compaction, so that a
	// follower a few cycles behind is sent entries, not a snapshot (etcd's
	// server keeps 5000 for the same reason).
	catchUpEntries = 5_000
	// maxInflightMsgs and maxSizePerMsg are the flow-control settings of the
	// RawNode-style libraries (keelraft, etcd): the same for both.
	maxInflightMsgs = 256
	maxSizePerMsg   = 1 << 20
	// maxSettleCycles bounds the cycles of a cluster's setup (bootstrap and
	// election), which settles in a handful.
	maxSettleCycles = 10_000
)

// A driver runs the workloads against one library.
type driver struct {
	name string
	// order places the library in the output: keelraft first.
	order int
	// replicate runs one replication workload (W1 to W4) for b.N entries.
	replicate func(b *testing.B, w workload)
	// encoding holds the W5 sub-benchmarks, nil if the library has no wire
	// format of its own to compare (hashicorp/raft's is not part of W5).
	encoding []namedBench
}

type namedBench struct {
	name string
	fn   func(b *testing.B)
}

var drivers []driver

// register adds d to the drivers, in order; each driver file calls it from
// init.
func register(d driver) {
	drivers = append(drivers, d)
	slices.SortFunc(drivers, func(a, b driver) int { return cmp.Compare(a.order, b.order) })
}

func BenchmarkW1(b *testing.B) { benchReplication(b, replicationWorkloads[0]) }
func BenchmarkW2(b *testing.B) { benchReplication(b, replicationWorkloads[1]) }
func BenchmarkW3(b *testing.B) { benchReplication(b, replicationWorkloads[2]) }
func BenchmarkW4(b *testing.B) { benchReplication(b, replicationWorkloads[3]) }

func benchReplication(b *testing.B, w workload) {
	for _, d := range drivers {
		if d.replicate != nil {
			b.Run(d.name, func(b *testing.B) { d.replicate(b, w) })
		}
	}
}

// BenchmarkW5 encodes and decodes one MsgApp carrying w5Entries entries of
// w5Payload bytes, in each library's own wire format.
func BenchmarkW5(b *testing.B) {
	for _, d := range drivers {
		for _, nb := range d.encoding {
			b.Run(d.name+"/"+nb.name, nb.fn)
		}
	}
}

// The W5 message: an append of 64 entries of 128 bytes, with header values
// of realistic magnitude (a long-lived cluster, not index 1 of term 1).
const (
	w5Entries    = 64
	w5Payload    = 128
	w5Term       = 42
	w5FirstIndex = 1_234_567
	w5Commit     = w5FirstIndex - 3
)

// payload returns n bytes of data: one slice shared by every proposal of a
// run, so that the benchmark measures the library, not the making of data.
func payload(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	return data
}

// reportThroughput adds the entries/s metric: b.N entries over the measured
// time.
func reportThroughput(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "entries/s")
	}
}

// reportWireBytes adds the bytes/msg metric of W5.
func reportWireBytes(b *testing.B, n int) {
	b.ReportMetric(float64(n), "wire-bytes/msg")
}

// A steppedCluster is an in-process cluster of a library whose core is a
// RawNode driven by hand: one goroutine runs every node's Ready loop and
// hands each message straight to the Step of its target, with no encoding
// and no network. The keelraft and etcd drivers implement it with the same
// host work: persist Entries and HardState to MemoryStorage, queue
// Messages, apply CommittedEntries (counting them), Advance, then deliver.
type steppedCluster interface {
	// propose hands n proposals of data to the leader.
	propose(data []byte, n int)
	// cycle handles one Ready on every node that has one, then hands every
	// message sent in those Readys to its target. It reports whether it did
	// anything.
	cycle() bool
	// applied returns the number of proposals applied by the voter that has
	// applied the fewest.
	applied() int
	// delivered returns the number of messages delivered so far.
	delivered() int
}

// benchStepped measures w on a fresh stepped cluster: b.N proposals, batch
// by batch, one Ready cycle after each batch, until every voter applied
// them all.
func benchStepped(b *testing.B, w workload, c steppedCluster) {
	data := payload(w.payload)
	replicateStepped(b, c, w, data, warmupEntries)
	msgs := c.delivered()
	b.ReportAllocs()
	mallocs := startMallocs(b)
	replicateStepped(b, c, w, data, b.N)
	b.StopTimer()
	reportThroughput(b)
	reportAllocsPerEntry(b, mallocs)
	// How many messages an entry costs: the libraries differ in how they
	// batch appends and acknowledgements.
	b.ReportMetric(float64(c.delivered()-msgs)/float64(b.N), "msgs/entry")
}

// startMallocs resets the timer and returns the count of heap allocations
// so far, for reportAllocsPerEntry.
func startMallocs(b *testing.B) uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	return ms.Mallocs
}

// reportAllocsPerEntry adds the allocs/entry metric: allocs/op with
// fractions, which -benchmem rounds down to an integer (0 allocs/op may be
// 0.9 per entry). Call it after b.StopTimer.
func reportAllocsPerEntry(b *testing.B, mallocs uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(b.N), "allocs/entry")
}

// replicateStepped proposes n entries, w.batch before each cycle, and runs
// cycles until every voter applied them. Proposals are pipelined: a batch
// does not wait for the one before it to commit.
func replicateStepped(tb testing.TB, c steppedCluster, w workload, data []byte, n int) {
	target := c.applied() + n
	proposed := 0
	for c.applied() < target {
		if proposed < n {
			k := min(w.batch, n-proposed)
			c.propose(data, k)
			proposed += k
		}
		if !c.cycle() && proposed == n && c.applied() < target {
			tb.Fatalf("cluster is idle with %d of %d proposals applied on every voter", c.applied()-(target-n), n)
		}
	}
}

// settle runs cycles until the cluster is idle.
func settle(tb testing.TB, c steppedCluster) {
	for range maxSettleCycles {
		if !c.cycle() {
			return
		}
	}
	tb.Fatalf("cluster did not settle in %d cycles", maxSettleCycles)
}

// checkRequire fails t unless the go.mod of this module requires modulePath
// at version, so that the version in a benchmark's name is the one measured.
func checkRequire(t *testing.T, modulePath, version string) {
	t.Helper()
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := modulePath + " " + version
	for line := range strings.Lines(string(gomod)) {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "require")) == want {
			return
		}
	}
	t.Errorf("go.mod does not require %s", want)
}
