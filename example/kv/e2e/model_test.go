package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// The sequential specification the linearizability tests check histories
// against: a map of registers, one per key, each holding a value, its mod
// revision and its version. Puts and compare-and-sets write; gets read.
// Histories are partitioned by key, so the model's state is one register.
//
// Mod revisions come from the store's global revision, which the model of
// one key cannot predict; the model learns a write's revision from the
// answer that reports it (its own, or a later read's). A write whose answer
// was lost has an unknown revision (0) until someone reads it. Versions are
// predictable: 1 at creation, one more per write, so a write applied twice
// is caught.

type opKind uint8

const (
	opGet opKind = iota
	opPut
	opCAS
)

func (k opKind) String() string {
	switch k {
	case opGet:
		return "get"
	case opPut:
		return "put"
	default:
		return "cas"
	}
}

// register is the state of one key.
type register struct {
	exists  bool
	value   string
	rev     int64 // mod revision; 0 = written by a write whose answer was lost
	version int64
}

// kvInput is what a client asked.
type kvInput struct {
	op    opKind
	key   string
	value string // put, cas: the value written; unique in a history
	ifRev int64  // cas: the expected mod revision (0: only if absent)
	// rev is the mod revision of a write whose answer was lost, when a
	// read later reported this (unique) value; 0 if never seen.
	rev int64
}

// kvOutput is what the client was told.
type kvOutput struct {
	unknown bool   // no answer (timeout, connection error, 5xx): may or may not have happened
	found   bool   // get: the key exists
	failed  bool   // cas: 412, nothing written
	value   string // get: the value read
	rev     int64  // get, put, cas: the key's mod revision (cas failure: current, 0 if absent)
	version int64  // get, put, successful cas: the key's version
}

// kvModel is the register-per-key model. It is nondeterministic only where
// a compare-and-set meets a register whose revision is unknown: the CAS may
// have matched or not.
var kvModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range sortedKeys(byKey) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{register{}} },
	Step: func(state, input, output any) []any {
		return stepRegister(state.(register), input.(kvInput), output.(kvOutput))
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		var call string
		switch in.op {
		case opGet:
			call = fmt.Sprintf("get(%s)", in.key)
		case opPut:
			call = fmt.Sprintf("put(%s, %s)", in.key, in.value)
		case opCAS:
			call = fmt.Sprintf("cas(%s, if_mod_rev=%d, %s)", in.key, in.ifRev, in.value)
		}
		switch {
		case out.unknown:
			return call + " -> ?"
		case in.op == opGet && !out.found:
			return call + " -> not found"
		case out.failed:
			return fmt.Sprintf("%s -> failed (mod_rev %d)", call, out.rev)
		case in.op == opGet:
			return fmt.Sprintf("%s -> %s (mod_rev %d, v%d)", call, out.value, out.rev, out.version)
		}
		return fmt.Sprintf("%s -> ok (mod_rev %d, v%d)", call, out.rev, out.version)
	},
	DescribeState: func(state any) string {
		s := state.(register)
		if !s.exists {
			return "absent"
		}
		return fmt.Sprintf("%s (mod_rev %d, v%d)", s.value, s.rev, s.version)
	},
}

// stepRegister returns the states s can move to when in is applied with
// the answer out; none if the answer is impossible in state s.
func stepRegister(s register, in kvInput, out kvOutput) []any {
	// written is s after a write of in.value with revision rev.
	written := func(rev int64) register {
		return register{exists: true, value: in.value, rev: rev, version: s.version + 1}
	}
	// newer reports whether rev can be the revision of a write after s.
	newer := func(rev int64) bool { return rev > 0 && (s.rev == 0 || rev > s.rev) }
	switch in.op {
	case opGet:
		if out.found != s.exists {
			return nil
		}
		if !out.found {
			return []any{s}
		}
		if out.value != s.value || out.version != s.version {
			return nil
		}
		if s.rev == 0 {
			s.rev = out.rev
			return []any{s}
		}
		if out.rev != s.rev {
			return nil
		}
		return []any{s}

	case opPut:
		if out.unknown {
			return []any{written(in.rev)}
		}
		if !newer(out.rev) || out.version != s.version+1 {
			return nil
		}
		return []any{written(out.rev)}

	case opCAS:
		// match: the CAS applies in state s; maybe: s's revision is unknown,
		// so it may or may not have been in.ifRev.
		var match, maybe bool
		switch {
		case in.ifRev == 0:
			match = !s.exists
		case s.exists && s.rev == 0:
			maybe = true
		default:
			match = s.exists && s.rev == in.ifRev
		}
		var next []any
		if match || maybe {
			switch {
			case out.unknown:
				next = append(next, written(in.rev))
			case !out.failed && newer(out.rev) && out.version == s.version+1:
				next = append(next, written(out.rev))
			}
		}
		if !match {
			switch {
			case out.unknown:
				next = append(next, s)
			case out.failed:
				switch {
				case !s.exists && out.rev == 0:
					next = append(next, s)
				case s.exists && s.rev == 0 && out.rev != 0 && out.rev != in.ifRev:
					s.rev = out.rev
					next = append(next, s)
				case s.exists && s.rev != 0 && out.rev == s.rev:
					next = append(next, s)
				}
			}
		}
		return next
	}
	panic(fmt.Sprintf("unknown op %v", in.op))
}

// A history is the clock of a recorded run: operations carry their call
// and return times as nanoseconds since start.
type history struct {
	start time.Time
}

// now is the time since the history began, in nanoseconds.
func (h *history) now() int64 { return int64(time.Since(h.start)) }

// resolveLostWrites prepares a history for the checker. A write whose
// answer was lost (a pending operation) may have taken effect at any time
// after its call, so it stays concurrent with everything after it, and a
// few dozen of those make the check exponential. Versions narrow them down:
// on a key that is never deleted, version n is the n-th write, and every
// answer that reports a version ties it to a write.
//
//   - A lost write that a read saw gets that read's mod revision and
//     version, and must come before the first operation that reported its
//     version or a later one: that operation's return is its return.
//   - A lost write that nothing saw can only have taken effect (before the
//     final read) as a version g that no answer reported, a gap, and only
//     if g fits its call time: every version reported before the call is
//     below g, and nothing that reported a version above g returned before
//     the call. If no gap fits, it did not take effect before the final
//     read: it is dropped, which is the same as linearizing it at the very
//     end. Otherwise it is kept, with return end.
//
// For example, on one key:
//
//	put a -> ok v1; put b -> lost; put c -> ok v3; put d -> lost; final get -> c v3
//
// Version 2 is a gap: b took effect between a and c, and stays. d was
// called after c returned with version 3, so d cannot be version 2: it
// did not take effect, and is dropped.
//
// These rules only remove possibilities, so a history they leave
// linearizable was linearizable as recorded. Keys missing from
// finalVersion are left alone (all lost writes kept with return end).
// It returns the prepared history and the number of dropped writes.
func resolveLostWrites(ops []porcupine.Operation, end int64, finalVersion map[string]int64) ([]porcupine.Operation, int) {
	type seen struct{ rev, version int64 }
	seenAs := map[string]seen{}                 // written value -> how it was seen
	tied := map[string]map[int64]bool{}         // key -> versions tied to a write
	firstReport := map[string]map[int64]int64{} // key -> version -> earliest return reporting it
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		if out.unknown || out.failed || (in.op == opGet && !out.found) {
			continue
		}
		value := in.value
		if in.op == opGet {
			value = out.value
		}
		seenAs[value] = seen{rev: out.rev, version: out.version}
		if tied[in.key] == nil {
			tied[in.key], firstReport[in.key] = map[int64]bool{}, map[int64]int64{}
		}
		tied[in.key][out.version] = true
		if r, ok := firstReport[in.key][out.version]; !ok || op.Return < r {
			firstReport[in.key][out.version] = op.Return
		}
	}
	// deadline returns the earliest return of an operation on key that
	// reported a version >= v, or end.
	deadline := func(key string, v int64) int64 {
		d := end
		for ver, r := range firstReport[key] {
			if ver >= v && r < d {
				d = r
			}
		}
		return d
	}
	// floor returns the highest version on key that an operation returned
	// before t reported: a write called at t comes after it.
	floor := func(key string, t int64) int64 {
		var f int64
		for ver, r := range firstReport[key] {
			if r < t && ver > f {
				f = ver
			}
		}
		return f
	}
	// canFillGap reports whether a write on key called at t can be a
	// version in floor(t)+1..finalVersion[key] that no answer reported.
	canFillGap := func(key string, t int64) bool {
		for v := floor(key, t) + 1; v <= finalVersion[key]; v++ {
			if !tied[key][v] && t < deadline(key, v+1) {
				return true
			}
		}
		return false
	}
	res := make([]porcupine.Operation, 0, len(ops))
	dropped := 0
	for _, op := range ops {
		if !op.Output.(kvOutput).unknown {
			res = append(res, op)
			continue
		}
		in := op.Input.(kvInput)
		op.Return = end
		if sn, ok := seenAs[in.value]; ok {
			in.rev = sn.rev
			op.Return = deadline(in.key, sn.version)
		} else if _, ok := finalVersion[in.key]; ok && !canFillGap(in.key, op.Call) {
			dropped++
			continue
		}
		op.Input = in
		res = append(res, op)
	}
	return res, dropped
}

// checkLinearizable fails the test if ops is not linearizable under
// kvModel, and writes porcupine's visualization to a file either way when
// the test fails.
func checkLinearizable(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	model := kvModel.ToModel()
	res := porcupine.CheckOperationsTimeout(model, ops, 60*time.Second)
	if res == porcupine.Illegal {
		// Again, to get what the visualization needs.
		_, info := porcupine.CheckOperationsVerbose(model, ops, 60*time.Second)
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("cannot write the visualization: %v", err)
		} else {
			t.Logf("visualization of the history: %s", path)
			// t.TempDir goes away with the test: keep a copy.
			if data, err := os.ReadFile(path); err == nil {
				if f, err := os.CreateTemp("", "kv-e2e-history-*.html"); err == nil {
					_, _ = f.Write(data)
					_ = f.Close()
					t.Logf("copy kept at %s", f.Name())
				}
			}
		}
	}
	if res != porcupine.Ok {
		if path, err := saveHistory(ops); err != nil {
			t.Logf("cannot save the history: %v", err)
		} else {
			t.Logf("history saved as JSON in %s", path)
		}
	}
	switch res {
	case porcupine.Illegal:
		t.Fatalf("the history of %d operations is NOT linearizable; %s", len(ops), summarize(ops))
	case porcupine.Unknown:
		t.Logf("the linearizability check timed out on %d operations (%s); inconclusive", len(ops), summarize(ops))
	default:
		t.Logf("linearizable: %s", summarize(ops))
	}
}

// savedOp is one operation of a history saved as JSON, for a closer look
// at a history the checker rejected or could not decide.
type savedOp struct {
	Client  int    `json:"client"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Op      string `json:"op"`
	Key     string `json:"key"`
	Value   string `json:"value,omitempty"`
	IfRev   int64  `json:"if_rev,omitempty"`
	InRev   int64  `json:"in_rev,omitempty"`
	Unknown bool   `json:"unknown,omitempty"`
	Found   bool   `json:"found,omitempty"`
	Failed  bool   `json:"failed,omitempty"`
	OutVal  string `json:"out_value,omitempty"`
	Rev     int64  `json:"rev,omitempty"`
	Version int64  `json:"version,omitempty"`
}

// saveHistory writes ops as JSON to a new file in the system's temporary
// directory (which outlives the test) and returns its path.
func saveHistory(ops []porcupine.Operation) (string, error) {
	saved := make([]savedOp, len(ops))
	for i, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		saved[i] = savedOp{Client: op.ClientId, Call: op.Call, Return: op.Return,
			Op: in.op.String(), Key: in.key, Value: in.value, IfRev: in.ifRev, InRev: in.rev,
			Unknown: out.unknown, Found: out.found, Failed: out.failed, OutVal: out.value, Rev: out.rev, Version: out.version}
	}
	data, err := json.MarshalIndent(saved, "", " ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "kv-e2e-history-*.json")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// summarize counts the operations of a history by kind and outcome.
func summarize(ops []porcupine.Operation) string {
	counts := map[string]int{}
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		what := in.op.String()
		switch {
		case out.unknown:
			what += " unknown"
		case out.failed:
			what += " failed"
		case in.op == opGet && !out.found:
			what += " absent"
		default:
			what += " ok"
		}
		counts[what]++
	}
	keys := sortedKeys(counts)
	s := fmt.Sprintf("%d operations:", len(ops))
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, counts[k])
	}
	return s
}

// op builds an operation for hand-made histories.
func op(client int, call, ret int64, in kvInput, out kvOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
}

// The checker the linearizability tests rely on rejects histories that
// no sequential order explains, and accepts ones that some order does.
func TestCheckerCatchesViolations(t *testing.T) {
	put := func(k, v string) kvInput { return kvInput{op: opPut, key: k, value: v} }
	get := func(k string) kvInput { return kvInput{op: opGet, key: k} }
	cas := func(k string, ifRev int64, v string) kvInput {
		return kvInput{op: opCAS, key: k, ifRev: ifRev, value: v}
	}
	ok := func(rev, version int64) kvOutput { return kvOutput{rev: rev, version: version} }
	read := func(v string, rev, version int64) kvOutput {
		return kvOutput{found: true, value: v, rev: rev, version: version}
	}
	lost := kvOutput{unknown: true}
	end := int64(math.MaxInt32)

	cases := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"stale read after a completed write", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(0, 20, 30, put("x", "b"), ok(2, 2)),
			op(1, 40, 50, get("x"), read("a", 1, 1)),
		}, false},
		{"acknowledged write lost", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(1, 20, 30, get("x"), kvOutput{}),
		}, false},
		{"write applied twice", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(0, 20, 30, put("x", "b"), ok(2, 2)),
			op(1, 40, 50, get("x"), read("b", 3, 3)),
		}, false},
		{"two CAS on the same revision both succeed", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(1, 20, 30, cas("x", 1, "b"), ok(2, 2)),
			op(2, 20, 30, cas("x", 1, "c"), ok(3, 3)),
		}, false},
		{"CAS fails although the revision matched", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(4, 1)),
			op(1, 20, 30, cas("x", 4, "b"), kvOutput{failed: true, rev: 4}),
		}, false},
		{"value from the future", []porcupine.Operation{
			op(0, 0, 10, get("x"), read("a", 1, 1)),
			op(1, 20, 30, put("x", "a"), ok(1, 1)),
		}, false},
		{"revision goes backwards", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(5, 1)),
			op(0, 20, 30, put("x", "b"), ok(3, 2)),
		}, false},
		{"concurrent write seen by one read and not by a later one", []porcupine.Operation{
			op(0, 0, 100, put("x", "a"), ok(1, 1)),
			op(1, 10, 20, get("x"), read("a", 1, 1)),
			op(2, 30, 40, get("x"), kvOutput{}),
		}, false},
		{"lost write seen later", []porcupine.Operation{
			op(0, 0, end, put("x", "a"), lost),
			op(1, 10, 20, get("x"), kvOutput{}),
			op(1, 30, 40, get("x"), read("a", 7, 1)),
			op(1, 50, 60, cas("x", 7, "b"), ok(9, 2)),
		}, true},
		{"lost CAS that did not apply", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(1, 20, end, cas("x", 5, "b"), lost),
			op(2, 30, 40, get("x"), read("a", 1, 1)),
		}, true},
		{"keys are independent", []porcupine.Operation{
			op(0, 0, 10, put("x", "a"), ok(1, 1)),
			op(1, 20, 30, put("y", "b"), ok(2, 1)),
			op(2, 40, 50, cas("x", 1, "c"), ok(3, 2)),
			op(2, 60, 70, cas("y", 1, "d"), kvOutput{failed: true, rev: 2}),
			op(2, 80, 90, get("y"), read("b", 2, 1)),
		}, true},
	}
	model := kvModel.ToModel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, _ := resolveLostWrites(tc.ops, end, nil)
			require.Equal(t, tc.ok, porcupine.CheckOperations(model, ops))
		})
	}
}

// A lost write that no read saw is dropped only when the final versions
// show it did not take effect; kept, it explains a version jump.
func TestLostWritesAreResolvedByVersion(t *testing.T) {
	end := int64(math.MaxInt32)
	put := func(v string) kvInput { return kvInput{op: opPut, key: "x", value: v} }
	get := kvInput{op: opGet, key: "x"}
	lost := kvOutput{unknown: true}
	model := kvModel.ToModel()

	// a (v1), b lost, final read a v1: b did not take effect.
	ops, dropped := resolveLostWrites([]porcupine.Operation{
		op(0, 0, 10, put("a"), kvOutput{rev: 1, version: 1}),
		op(1, 20, end, put("b"), lost),
		op(2, 30, 40, get, kvOutput{found: true, value: "a", rev: 1, version: 1}),
	}, end, map[string]int64{"x": 1})
	require.Equal(t, 1, dropped)
	require.Len(t, ops, 2)
	require.True(t, porcupine.CheckOperations(model, ops))

	// a (v1), b lost, c (v3), d lost after c, final read c v3: b took
	// effect unseen (version 2); d, called after version 3 was reported,
	// did not.
	history := []porcupine.Operation{
		op(0, 0, 10, put("a"), kvOutput{rev: 1, version: 1}),
		op(1, 20, end, put("b"), lost),
		op(0, 30, 40, put("c"), kvOutput{rev: 5, version: 3}),
		op(1, 45, end, put("d"), lost),
		op(2, 50, 60, get, kvOutput{found: true, value: "c", rev: 5, version: 3}),
	}
	ops, dropped = resolveLostWrites(history, end, map[string]int64{"x": 3})
	require.Equal(t, 1, dropped)
	require.Equal(t, "b", ops[1].Input.(kvInput).value)
	require.True(t, porcupine.CheckOperations(model, ops))
	// Without b, version 3 has no explanation.
	require.False(t, porcupine.CheckOperations(model, append(ops[:1:1], ops[2:]...)))

	// A lost write that a read saw is kept, with the revision it was read at.
	ops, dropped = resolveLostWrites([]porcupine.Operation{
		op(1, 0, end, put("b"), lost),
		op(2, 50, 60, get, kvOutput{found: true, value: "b", rev: 9, version: 1}),
	}, end, map[string]int64{"x": 1})
	require.Equal(t, 0, dropped)
	require.Equal(t, int64(9), ops[0].Input.(kvInput).rev)
	require.True(t, porcupine.CheckOperations(model, ops))
}

// sortOps orders operations by call time, for readable visualizations.
func sortOps(ops []porcupine.Operation) {
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
}
