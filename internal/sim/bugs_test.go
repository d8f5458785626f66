//go:build keelraft_bugs

package sim

import (
	"testing"
	"time"

	"github.com/keelraft/raft/internal/bugs"
)

// bugSeeds is the range of seeds in which each injected bug must be found.
// A sweep stops at the first failure: each bug below is found within a few
// hundred seeds, under a second.
const bugSeeds = 5000

// TestInjectedBugs turns on each bug of internal/bugs in turn and requires
// a seed sweep to find it, so that the safety net is known to catch what it
// is meant to. Each bug must be found twice: by the whole suite, and by the
// properties of Raft alone (election safety, log matching, ...), without
// the direct check that acknowledgements are durable. The failing seed must
// pass with the bug off, so that the violation is the bug's doing; a seed
// that fails either way is passed over (TestSeeds reports it).
func TestInjectedBugs(t *testing.T) {
	for _, tc := range []struct {
		name string
		on   *bool
	}{
		{"CommitOldTerms", &bugs.CommitOldTerms},
		{"VoteWithoutLogCheck", &bugs.VoteWithoutLogCheck},
		{"ForgetVote", &bugs.ForgetVote},
		{"LeaderTruncates", &bugs.LeaderTruncates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer bugs.Reset()
			findBug(t, tc.on, "the whole suite")
			checkAcks = false
			defer func() { checkAcks = true }()
			findBug(t, tc.on, "the properties alone")
		})
	}
}

// findBug sweeps seeds with the bug on until one fails.
func findBug(t *testing.T, on *bool, by string) {
	t.Helper()
	start := time.Now()
	for seed := uint64(0); seed < bugSeeds; seed++ {
		bugs.Reset()
		*on = true
		s := RunSeed(seed)
		if s.Err() == nil {
			continue
		}
		if !checkAcks && Property(s.Err()) == PropHost {
			t.Fatalf("seed %d: %v", seed, s.Err())
		}
		bugs.Reset()
		if clean := RunSeed(seed); clean.Err() != nil {
			// Not the bug's doing: TestSeeds reports it. Look further.
			t.Logf("seed %d fails without the bug too: %v", seed, clean.Err())
			continue
		}
		t.Logf("found by %s, with seed %d, after %v: %v\n%s", by, seed, time.Since(start).Round(time.Millisecond),
			s.Err(), failure{s.Options(), s.Steps()})
		return
	}
	t.Fatalf("not found by %s in %d seeds (%v)", by, bugSeeds, time.Since(start).Round(time.Millisecond))
}
