package sim

import (
	"errors"
	"math/rand/v2"
)

// RandSource is a Source over a *rand.Rand.
type RandSource struct {
	// R makes the choices.
	R *rand.Rand
}

// Intn implements Source.
func (s RandSource) Intn(n int, _ string) int { return s.R.IntN(n) }

// SeedSource returns the Source of seed: the same seed always makes the same
// schedule.
func SeedSource(seed uint64) RandSource {
	return RandSource{R: rand.New(rand.NewPCG(seed, 0x6b65656c72616674))}
}

// MaxSeedSteps bounds the length of a seed's schedule: RunSeed draws it in
// [MaxSeedSteps/10, MaxSeedSteps), so that there are short schedules, which
// find simple bugs fast and read well, and long ones, which reach deeper
// states.
const MaxSeedSteps = 600

// RunSeed runs the schedule of seed: its profile (see Profiles), options,
// op weights and steps all come from the seed. It runs the liveness check at
// the end if no safety property broke. The result's Err says whether a
// property broke; Steps replays it.
func RunSeed(seed uint64) *Sim {
	src := SeedSource(seed)
	profile := DrawProfile(src)
	opts := DrawOptions(src)
	profile.tune(&opts)
	weights := profile.Weights
	if weights == (Swarm{}) {
		weights = DrawSwarm(src)
	}
	steps := MaxSeedSteps/10 + src.Intn(MaxSeedSteps-MaxSeedSteps/10, "steps")
	s, err := New(opts)
	if err != nil {
		panic(err) // DrawOptions makes only valid options
	}
	s.profile, s.swarm = profile.Name, weights
	for range steps {
		if s.Do(weights.Gen(src)) != nil {
			return s
		}
	}
	_ = s.CheckLiveness()
	return s
}

// Replay runs steps on a new cluster made with opts, then the liveness check
// if no safety property broke. With trace set, the result keeps a readable
// trace (see Sim.Report).
func Replay(opts Options, steps []Step, trace bool) (*Sim, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	s.SetTracing(trace)
	for _, st := range steps {
		if s.Do(st) != nil {
			return s, nil
		}
	}
	_ = s.CheckLiveness()
	return s, nil
}

// Property returns the property err violates, or "" if err is not a
// Violation.
func Property(err error) string {
	if v, ok := errors.AsType[*Violation](err); ok {
		return v.Property
	}
	return ""
}

// Minimize shrinks a failing schedule: it removes chunks of steps, halving
// the chunk size down to one step, and keeps each removal after which the
// replay still violates the same property. It returns the steps of the
// smallest failing replay found (steps that turned into no-ops dropped).
func Minimize(opts Options, steps []Step) []Step {
	s, err := Replay(opts, steps, false)
	if err != nil || s.Err() == nil {
		return steps
	}
	prop := Property(s.Err())
	return MinimizeFunc(opts, steps, func(s *Sim) bool { return s.Err() != nil && Property(s.Err()) == prop })
}

// MinimizeFunc shrinks a schedule whose replay satisfies keep, as Minimize
// does, keeping each removal after which the replay still satisfies it.
func MinimizeFunc(opts Options, steps []Step, keep func(*Sim) bool) []Step {
	s, err := Replay(opts, steps, false)
	if err != nil || !keep(s) {
		return steps
	}
	best := s.Steps()
	for chunk := max(len(best)/2, 1); ; chunk /= 2 {
		for i := 0; i < len(best); {
			try := append(append([]Step(nil), best[:i]...), best[min(i+chunk, len(best)):]...)
			if s, _ := Replay(opts, try, false); keep(s) {
				best = s.Steps()
				continue
			}
			i += chunk
		}
		if chunk == 1 {
			return best
		}
	}
}
