//go:build !keelraft_bugs

package bugs

// Enabled reports whether this build can inject bugs.
const Enabled = false

// The switches; see on.go for what each breaks.
const (
	CommitOldTerms      = false
	VoteWithoutLogCheck = false
	ForgetVote          = false
	LeaderTruncates     = false
)
