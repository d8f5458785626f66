//go:build keelraft_bugs

package bugs

// Enabled reports whether this build can inject bugs.
const Enabled = true

var (
	// CommitOldTerms lets a leader commit entries of earlier terms by
	// counting replicas, against §5.4.2 (Figure 8).
	CommitOldTerms bool
	// VoteWithoutLogCheck grants votes without the up-to-date check of
	// §5.4.1.
	VoteWithoutLogCheck bool
	// ForgetVote leaves the vote out of the persisted HardState.
	ForgetVote bool
	// LeaderTruncates makes a new leader drop its uncommitted tail.
	LeaderTruncates bool
)

// Reset turns every switch off.
func Reset() {
	CommitOldTerms, VoteWithoutLogCheck, ForgetVote, LeaderTruncates = false, false, false, false
}
