package quorum

// JointConfig is the configuration in force during a membership change by
// joint consensus (Raft paper §6): index 0 holds the incoming voters and
// index 1 the outgoing ones. Outside a change the outgoing half is empty (or
// nil) and the joint configuration behaves exactly like its incoming half.
//
// Every decision needs a majority of each half separately, so that neither
// the old nor the new configuration can decide on its own while the change
// is under way.
type JointConfig [2]MajorityConfig

// String returns the two halves joined by "&&", such as "(1 2 3)&&(1 2 4)",
// or only the incoming half when the configuration is not joint.
func (c JointConfig) String() string {
	if len(c[1]) > 0 {
		return c[0].String() + "&&" + c[1].String()
	}
	return c[0].String()
}

// IDs returns a new set holding every voter of either half.
func (c JointConfig) IDs() map[uint64]struct{} {
	ids := make(map[uint64]struct{}, len(c[0])+len(c[1]))
	for _, half := range c {
		for id := range half {
			ids[id] = struct{}{}
		}
	}
	return ids
}

// CommittedIndex returns the largest index acknowledged by a majority of
// both halves, that is the smaller of the two halves' committed indexes.
// An empty half does not constrain the result.
func (c JointConfig) CommittedIndex(l AckedIndexer) Index {
	return min(c[0].CommittedIndex(l), c[1].CommittedIndex(l))
}

// VoteResult returns VoteWon only when both halves are won, VoteLost as soon
// as either half is lost, and VotePending otherwise.
func (c JointConfig) VoteResult(votes map[uint64]bool) VoteResult {
	r0 := c[0].VoteResult(votes)
	r1 := c[1].VoteResult(votes)
	switch {
	case r0 == r1:
		return r0
	case r0 == VoteLost || r1 == VoteLost:
		return VoteLost
	default:
		// One half won and the other is still pending.
		return VotePending
	}
}
