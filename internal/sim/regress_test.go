package sim

import (
	"testing"
)

// replayRegression replays a schedule kept from a failure, with the
// liveness check, and requires every property to hold.
func replayRegression(t *testing.T, opts Options, steps []Step) *Sim {
	t.Helper()
	s, err := Replay(opts, steps, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Err() != nil {
		t.Fatalf("%v\n%s", s.Err(), s.Report())
	}
	return s
}

// TestRegression_StaleCandidateWinsItsOldTerm: a candidate of term 2 gets
// its last vote only after term 3 committed entries, and leads term 2
// without them. That is legal (leader completeness binds leaders of later
// terms only), but an early version of the leader completeness check,
// which required every entry known committed, flagged it.
func TestRegression_StaleCandidateWinsItsOldTerm(t *testing.T) {
	opts := Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, MaxInflightMsgs: 256}
	steps := []Step{
		{OpCampaign, 0, 0}, // n1 campaigns in term 2
		{OpFlush, 0, 0},
		{OpDrop, 1, 0},      // its request to n3 is lost
		{OpDeliver, 0, 0},   // n2 votes for n1
		{OpFlush, 0, 0},     // n2 persists its vote
		{OpFlush, 0, 0},     // and answers
		{OpHold, 0, 0},      // the answer is slow
		{OpPartition, 1, 0}, // [1] | [2 3]
		{OpCampaign, 2, 0},  // n3 campaigns in term 2; n2 already voted
		{OpStabilize, 0, 0},
		{OpCampaign, 2, 0}, // n3 wins term 3
		{OpStabilize, 0, 0},
		{OpPropose, 2, 0}, // and commits v0
		{OpStabilize, 0, 0},
		{OpHeal, 0, 0},
		{OpDeliver, 0, 0}, // n1 gets n2's vote at last: it leads term 2
	}
	s := replayRegression(t, opts, steps)
	if s.chk.leaders[2] != 1 || s.chk.leaders[3] != 3 {
		t.Fatalf("the schedule no longer makes n1 leader of term 2 after n3 led term 3: leaders %v\n%s", s.chk.leaders, s.Report())
	}
}

// leaseSetup makes n2 leader of term 2 in a cluster of three with lease
// reads, while n1 is cut off long enough to stop honouring n2's lease
// (PreVote keeps its term): n3 alone confirms n2's lease.
func leaseSetup() (Options, []Step) {
	opts := Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, PreVote: true, CheckQuorum: true, MaxInflightMsgs: 256, LeaseReads: true}
	steps := []Step{
		{OpCampaign, 1, 0}, {OpStabilize, 0, 0}, // n2 leads term 2
		{OpPartition, 1, 0}, // [1] | [2 3]
	}
	for range 12 { // n1 times out and pre-campaigns; n2 and n3 go on
		steps = append(steps, Step{OpTickAll, 0, 0}, Step{OpStabilize, 0, 0})
	}
	return opts, append(steps, Step{OpPartition, 2, 0}) // [2] | [1 3]: n2's lease was just confirmed by n3
}

// TestRegression_ForcedCampaignBreaksLease: n3 heard from its leader n2 a
// tick ago, but its host calls Campaign; n1 (which no longer hears n2)
// votes for it, n3 wins term 3 and commits 5@3 while n2, cut off, still
// answers reads from its lease with index 4. A node that campaigns
// ignores its own lease, and with it the promise that n2's lease rests on.
// Fixed: a node under lease reads does not campaign on its host's word
// while it heard from a leader within an election timeout.
func TestRegression_ForcedCampaignBreaksLease(t *testing.T) {
	opts, steps := leaseSetup()
	steps = append(steps,
		Step{OpCampaign, 2, 0}, Step{OpStabilize, 0, 0}, // n3 leads term 3, commits 5@3 with n1
		Step{OpRead, 1, 0}, Step{OpStabilize, 0, 0}, // n2 answers from its lease
	)
	replayRegression(t, opts, steps)
}

// TestRegression_RebootedFollowerBreaksLease: n3 confirmed n2's lease, then
// reboots: it restarts knowing no leader, so it grants its vote at once.
// n1 (which no longer hears n2) times out four ticks later, wins term 3
// with n3's vote and commits 5@3, while n2, cut off, is still within the
// lease n3 confirmed and answers a read with index 4. Clocks run at one
// rate here: the lease breaks because the restart forgot it.
// Fixed: under lease reads a node acts for an election timeout after it
// starts as if it had heard from a leader.
func TestRegression_RebootedFollowerBreaksLease(t *testing.T) {
	opts, steps := leaseSetup()
	steps = append(steps, Step{OpReboot, 2, 0}, Step{OpStabilize, 0, 0})
	for range 4 {
		steps = append(steps, Step{OpTickAll, 0, 0}, Step{OpStabilize, 0, 0}, Step{OpRead, 1, 0}, Step{OpStabilize, 0, 0})
	}
	replayRegression(t, opts, steps)
}

// TestRegression_NewMemberRefusesStaleSnapshot: n2 compacted its log
// behind a snapshot of the configuration [1 2 3], then, as leader, adds
// the learner n4. n4, with an empty log, needs the snapshot, and refuses
// it: n4 is not in its ConfState. n4 answers, and n2 sends the same
// snapshot again at once, without a tick: the cluster never falls quiet,
// and n4 never catches up until n2 happens to snapshot again.
// Fixed: a node that is no member yet takes the snapshot.
func TestRegression_NewMemberRefusesStaleSnapshot(t *testing.T) {
	opts := Options{Nodes: 3, ElectionTick: 6, HeartbeatTick: 1, MaxInflightMsgs: 256, MaxCommittedSizePerReady: 64, Membership: true}
	steps := []Step{
		{OpRun, 5, 0},       // the bootstrap entries are applied
		{OpPartition, 4, 0}, // [3] | [1 2]
		{OpCompact, 1, 2},   // n2 snapshots at 3 and compacts its log to 1
		{OpCampaign, 1, 0},  // n2 leads term 2
		{OpRun, 8, 0},
		{OpConfChange, 1, 45281}, // add learner n4
	}
	replayRegression(t, opts, steps)
}

// TestRegression_CandidateMissedLeaveJoint: the joint configuration
// [1 3]&[4] is left, to [1 3] with the learner 4, and the change is
// committed on n3 and n4 but n1 never hears it committed. n4's log is
// ahead of n1's. n1 counts votes in [1 3]&[4]: n4, a learner by its own
// configuration, cannot campaign, and votes not for n1, whose log is
// behind; n3 needs n1's vote, and n1's log is ahead of n3's. No one is
// ever elected. (Found by TestProperties with rapid; the same schedule
// fails on the commits before this fix.)
// Fixed: a vote answer carries the voter's commit index and its term; a
// candidate holding that entry commits up to it, applies the leave, and
// its next campaign counts [1 3].
func TestRegression_CandidateMissedLeaveJoint(t *testing.T) {
	opts := Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, MaxSizePerMsg: 1, MaxInflightMsgs: 3, Membership: true}
	steps := []Step{
		{OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpRun, 31, 0},
		{OpConfChange, 5, 182}, {OpRun, 36, 0}, {OpConfChange, 0, 12}, {OpRun, 62, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0},
		{OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0}, {OpRun, 9, 0}, {OpConfChange, 3, 1939}, {OpStabilize, 0, 0},
		{OpConfChange, 4, 4}, {OpStabilize, 0, 0}, {OpTickAll, 0, 0}, {OpTick, 7, 0}, {OpTickAll, 0, 0}, {OpTickAll, 0, 0},
		{OpTickAll, 0, 0}, {OpRun, 17, 0}, {OpIsolateLeader, 0, 23}, {OpDeliver, 21, 0}, {OpConfChange, 5, 50959}, {OpReady, 1, 1},
		{OpDrop, 56, 0}, {OpRun, 1, 0}, {OpDrop, 1, 1}, {OpRun, 53, 0}, {OpPropose, 6, 0}, {OpHeal, 0, 0},
		{OpStabilize, 0, 0}, {OpPropose, 7, 0}, {OpPropose, 3, 0}, {OpReady, 25, 1}, {OpPropose, 0, 0}, {OpTickAll, 0, 0},
		{OpPropose, 63, 0}, {OpPropose, 1, 0}, {OpPropose, 5, 0}, {OpPropose, 18, 0}, {OpDeliver, 3, 1}, {OpDrop, 1, 1},
		{OpPropose, 4, 0},
	}
	replayRegression(t, opts, steps)
}
