package sim

import (
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var (
	flagSeeds = flag.Int("sim.seeds", 0, "number of seeds TestSeeds runs (0: the CI default)")
	flagSeed0 = flag.Uint64("sim.seed0", 0, "first seed TestSeeds runs")
)

// rapidSteps is the average number of steps of a rapid case unless
// -rapid.steps says otherwise. rapid's default (30) is too short for a
// cluster to elect a leader, replicate, and then fail in an interesting way.
const rapidSteps = 300

// TestMain sets this package's defaults for rapid's -rapid.steps and
// -rapid.checks (see ciChecks), unless the command line or the environment
// sets them.
func TestMain(m *testing.M) {
	flag.Parse()
	defaults := map[string]string{
		"rapid.steps":  strconv.Itoa(rapidSteps),
		"rapid.checks": strconv.Itoa(ciChecks),
	}
	env := map[string]string{"rapid.steps": "RAPID_STEPS", "rapid.checks": "RAPID_CHECKS"}
	flag.Visit(func(f *flag.Flag) { delete(defaults, f.Name) })
	for name, value := range defaults {
		if os.Getenv(env[name]) != "" {
			continue
		}
		if err := flag.Set(name, value); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// rapidSource draws a schedule's choices from rapid, so that rapid can
// shrink a failing schedule.
type rapidSource struct{ t *rapid.T }

func (s rapidSource) Intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(s.t, label) }

// failure renders a failed run for a person: the schedule is minimized,
// then replayed with a trace. It does the work only when printed, so that
// rapid's shrinking, which runs many failing cases silently, does not pay
// for it.
type failure struct {
	opts  Options
	steps []Step
}

func (f failure) String() string {
	steps := Minimize(f.opts, f.steps)
	s, err := Replay(f.opts, steps, true)
	if err != nil {
		return err.Error()
	}
	return s.Report()
}

// TestProperties drives the simulator with rapid: each case draws options,
// then a sequence of steps (one action per group of steps), checking every
// property after each step and liveness at the end. rapid shrinks a
// failure to a short schedule, printed as a trace and as Go literals.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		opts := DrawOptions(rapidSource{rt})
		s, err := New(opts)
		if err != nil {
			rt.Fatal(err)
		}
		actions := map[string]func(*rapid.T){
			"": func(rt *rapid.T) {
				if s.Err() != nil {
					rt.Logf("%s", failure{opts, s.Steps()})
					rt.Fatal(s.Err())
				}
			},
		}
		for _, g := range Groups() {
			actions[g.String()] = func(rt *rapid.T) { _ = s.Do(Gen(rapidSource{rt}, g)) }
		}
		rt.Repeat(actions)
		if s.CheckLiveness() != nil {
			rt.Logf("%s", failure{opts, s.Steps()})
			rt.Fatal(s.Err())
		}
	})
}

// TestSeeds runs the schedules of a range of seeds (see RunSeed): CI runs
// ciSeeds of them, -sim.seeds as many as asked, from -sim.seed0.
func TestSeeds(t *testing.T) {
	n := *flagSeeds
	if n == 0 {
		n = ciSeeds
		if testing.Short() {
			n /= 5
		}
	}
	start := time.Now()
	seed0 := *flagSeed0
	for seed := seed0; seed < seed0+uint64(n); seed++ {
		s := RunSeed(seed)
		if s.Err() != nil {
			t.Fatalf("seed %d (profile %s, op weights %v): %v\n%s", seed, s.profile, s.swarm, s.Err(), failure{s.Options(), s.Steps()})
		}
	}
	t.Logf("%d seeds from %d passed in %v", n, seed0, time.Since(start).Round(time.Millisecond))
}

// TestReplayIsDeterministic checks that a seed's run replays exactly from
// its recorded steps: same steps, same trace.
func TestReplayIsDeterministic(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		s := RunSeed(seed)
		a, err := Replay(s.Options(), s.Steps(), true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Replay(s.Options(), s.Steps(), true)
		if err != nil {
			t.Fatal(err)
		}
		if a.Trace() != b.Trace() || len(a.Steps()) != len(s.Steps()) {
			t.Fatalf("seed %d does not replay the same way", seed)
		}
		if (a.Err() == nil) != (s.Err() == nil) {
			t.Fatalf("seed %d: run ended with %v, replay with %v", seed, s.Err(), a.Err())
		}
	}
}
