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
