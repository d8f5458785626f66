//go:build !race

package sim

// The number of cases CI runs by default: TestSeeds' seeds and
// TestProperties' rapid checks.
const (
	ciSeeds  = 5000
	ciChecks = 1000
)
