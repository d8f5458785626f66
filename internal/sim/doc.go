// Package sim is a deterministic simulator of a raft cluster, and the
// property-based tests of Raft's safety and liveness that run on it.
//
// A Sim runs 3 to 7 raft.RawNodes in one goroutine. Each node has a host
// that follows the Ready contract in separate steps (take the Ready and send
// its messages; persist; apply; Advance), over a raft.MemoryStorage that
// plays the disk: a crash keeps what was persisted and loses the rest, with
// every message in flight to or from the node. Every choice is a Step: which
// node ticks or moves its Ready cycle on, which message is delivered,
// dropped or duplicated (the network is a bag, so delivery order is a
// choice too), partitions and one-way link cuts, crashes, restarts and
// reboots, log compaction, client proposals and ReadIndex reads, leadership
// transfers and campaigns. The steps come from one Source (rapid's
// generator, or a *rand.Rand from a seed), and raft seeds its election
// timeouts from the node's ID and term, so a run replays exactly from its
// Options and steps (see Replay).
//
// After every step (and after every event of the steps that run many) the
// simulator checks election safety, leader append-only, log matching,
// leader completeness, state machine safety, durability and read
// linearizability (see the Prop constants and check.go). CheckLiveness then
// ends the faults and checks that a leader is elected and a new proposal
// commits on every live node within a bound (see LivenessBound).
//
// # Running the tests
//
// CI runs a bounded number of cases, fewer under -race (see ciSeeds and
// ciChecks in norace_test.go and race_test.go):
//
//	go test ./internal/sim
//
// Many cases locally, with rapid (which shrinks a failure to a short
// schedule) and with a seed sweep (each seed a whole schedule; a sweep is a
// fixed range of seeds, so it is repeatable):
//
//	go test ./internal/sim -run TestProperties -rapid.checks=100000 -timeout=0
//	go test ./internal/sim -run TestSeeds -sim.seeds=100000 -timeout=0
//	go test ./internal/sim -run TestSeeds -sim.seeds=100000 -sim.seed0=100000 -timeout=0
//
// A rapid case runs 300 steps on average here (-rapid.steps overrides it).
// A failure prints a readable trace of its minimized schedule and Go
// literals of its Options and steps: paste them into a TestRegression_ test
// (see regress_test.go). One seed replays with -sim.seeds=1 -sim.seed0=N.
//
// The bugs of internal/bugs must each be found by a seed sweep:
//
//	go test -tags keelraft_bugs ./internal/sim -run TestInjectedBugs -v
package sim
