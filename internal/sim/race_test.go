//go:build race

package sim

// The number of cases CI runs by default: TestSeeds' seeds and
// TestProperties' rapid checks. The race detector slows the simulator about
// tenfold, so CI's -race run does fewer.
const (
	ciSeeds  = 600
	ciChecks = 300
)
