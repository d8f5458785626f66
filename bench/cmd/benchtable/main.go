// Command benchtable turns the output of the bench module's benchmarks into
// the Markdown tables of BENCHMARKS.md: for every benchmark, the median of
// each metric over the runs and its spread (min–max), and the ratio of every
// library to etcd measured in the same run.
//
//	go run ./cmd/benchtable results.txt etcd36/results.txt
//
// Each file is the output of one module (one etcd version), maybe of several
// go test invocations one after the other. A ratio pairs results of the same
// run (the same invocation, and the same repetition of -count within it);
// its median over the runs is reported. Run the modules with -count 1 in a
// loop (run.sh does) so that the libraries of one run were measured within a
// minute of each other.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	baseline := flag.String("baseline", "etcd", "library the ratios are taken against (a prefix of its name)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: benchtable [-baseline etcd] results.txt...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var files []*resultFile
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rf, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		rf.name = name
		files = append(files, rf)
	}
	writeTables(os.Stdout, files, *baseline)
}

// A result is one line of benchmark output: its metrics by unit, and the
// run it belongs to.
type result struct {
	run     runID
	metrics map[string]float64
}

// runID identifies a run: the go test invocation (counted by its "pkg:"
// header) and, for -count N, the repetition within it.
type runID struct{ invocation, repetition int }

// A resultFile holds the results of one module, by benchmark ("W3/etcd")
// and run.
type resultFile struct {
	name    string
	pkg     string
	order   []string // benchmark names in order of first appearance
	results map[string][]result
}

// parse reads `go test -bench` output.
func parse(r io.Reader) (*resultFile, error) {
	rf := &resultFile{results: map[string][]result{}}
	invocation := 0
	seen := map[string]int{} // results of each benchmark in this invocation
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			rf.pkg = p
			invocation++
			clear(seen)
			continue
		}
		name, metrics, ok := parseLine(line)
		if !ok {
			continue
		}
		if _, ok := rf.results[name]; !ok {
			rf.order = append(rf.order, name)
		}
		rf.results[name] = append(rf.results[name], result{run: runID{invocation, seen[name]}, metrics: metrics})
		seen[name]++
	}
	return rf, sc.Err()
}

// parseLine parses "BenchmarkW3/keelraft-2  N  v unit  v unit ...". The
// name loses its Benchmark prefix and its -GOMAXPROCS suffix.
func parseLine(line string) (string, map[string]float64, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
		return "", nil, false
	}
	name := strings.TrimPrefix(fields[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	if _, err := strconv.Atoi(fields[1]); err != nil {
		return "", nil, false
	}
	res := map[string]float64{}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return "", nil, false
		}
		res[fields[i+1]] = v
	}
	return name, res, true
}

// split cuts "W5/keelraft/encode" into the workload "W5", the library
// "keelraft" and the case "encode" (empty for W1 to W4).
func split(name string) (workload, lib, kase string) {
	parts := strings.SplitN(name, "/", 3)
	switch len(parts) {
	case 1:
		return parts[0], "", ""
	case 2:
		return parts[0], parts[1], ""
	}
	return parts[0], parts[1], parts[2]
}

// stats are the median and the extremes of one metric over the runs.
type stats struct{ median, lo, hi float64 }

func summarize(vs []float64) stats {
	if len(vs) == 0 {
		return stats{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{median: m, lo: s[0], hi: s[len(s)-1]}
}

func metric(rs []result, unit string) []float64 {
	var vs []float64
	for _, r := range rs {
		if v, ok := r.metrics[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// pairedRatios returns num/den (den/num if invert) run by run, for the runs
// both have.
func pairedRatios(num, den []result, unit string, invert bool) []float64 {
	byRun := map[runID]float64{}
	for _, r := range den {
		if v, ok := r.metrics[unit]; ok {
			byRun[r.run] = v
		}
	}
	var out []float64
	for _, r := range num {
		a, okA := r.metrics[unit]
		b, okB := byRun[r.run]
		if !okA || !okB || a == 0 || b == 0 {
			continue
		}
		if invert {
			out = append(out, b/a)
		} else {
			out = append(out, a/b)
		}
	}
	return out
}

// row is one library's line in a workload's table.
type row struct {
	file     *resultFile
	name     string // full benchmark name
	lib      string
	kase     string
	baseline string // full name of the baseline benchmark in the same file, "" if none
}

func writeTables(w io.Writer, files []*resultFile, baseline string) {
	// Workloads in order of first appearance over all files.
	var workloads []string
	rows := map[string][]row{}
	for _, f := range files {
		for _, name := range f.order {
			wl, lib, kase := split(name)
			if _, ok := rows[wl]; !ok {
				workloads = append(workloads, wl)
			}
			base := ""
			for _, other := range f.order {
				owl, olib, okase := split(other)
				if owl == wl && okase == kase && strings.HasPrefix(olib, baseline) {
					base = other
				}
			}
			rows[wl] = append(rows[wl], row{file: f, name: name, lib: lib, kase: kase, baseline: base})
		}
	}
	for _, wl := range workloads {
		fmt.Fprintf(w, "### %s\n\n", wl)
		if rows[wl][0].kase == "" {
			writeReplication(w, rows[wl])
		} else {
			writeEncoding(w, rows[wl])
		}
		fmt.Fprintln(w)
	}
}

func writeReplication(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| library | run | entries/s (median) | entries/s (min–max) | ns/op | B/op | allocs/entry | msgs/entry | entries/s ÷ etcd's | allocs ÷ etcd's | runs |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		rs := r.file.results[r.name]
		eps := summarize(metric(rs, "entries/s"))
		ratio, allocRatio := "", ""
		if r.baseline != "" && r.baseline != r.name {
			base := r.file.results[r.baseline]
			ratio = ratioCell(pairedRatios(rs, base, "entries/s", false))
			allocRatio = ratioCell(pairedRatios(rs, base, allocUnit(rs), false))
		}
		msgs := ""
		if vs := metric(rs, "msgs/entry"); len(vs) > 0 {
			msgs = num(summarize(vs).median)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s–%s | %s | %s | %s | %s | %s | %s | %d |\n",
			r.lib, runLabel(r.file), num(eps.median), num(eps.lo), num(eps.hi),
			num(summarize(metric(rs, "ns/op")).median),
			exact(summarize(metric(rs, "B/op")).median),
			allocs(rs), msgs, ratio, allocRatio, len(rs))
	}
}

func writeEncoding(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| library | case | run | ns/op (median) | ns/op (min–max) | B/op | allocs/op | wire bytes | etcd's time ÷ this | runs |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		rs := r.file.results[r.name]
		ns := summarize(metric(rs, "ns/op"))
		speedup := ""
		if r.baseline != "" && r.baseline != r.name {
			speedup = ratioCell(pairedRatios(rs, r.file.results[r.baseline], "ns/op", true))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s–%s | %s | %s | %s | %s | %d |\n",
			r.lib, r.kase, runLabel(r.file), num(ns.median), num(ns.lo), num(ns.hi),
			exact(summarize(metric(rs, "B/op")).median),
			exact(summarize(metric(rs, "allocs/op")).median),
			exact(summarize(metric(rs, "wire-bytes/msg")).median),
			speedup, len(rs))
	}
}

// allocUnit is the unit of allocations per entry: allocs/entry, which has
// fractions, where the driver reports it, else allocs/op.
func allocUnit(rs []result) string {
	if len(metric(rs, "allocs/entry")) == len(rs) {
		return "allocs/entry"
	}
	return "allocs/op"
}

func allocs(rs []result) string {
	if u := allocUnit(rs); u == "allocs/entry" {
		return num(summarize(metric(rs, u)).median)
	}
	return exact(summarize(metric(rs, "allocs/op")).median)
}

// ratioCell prints the median of paired ratios and their range.
func ratioCell(rs []float64) string {
	if len(rs) == 0 {
		return ""
	}
	s := summarize(rs)
	if len(rs) == 1 {
		return fmt.Sprintf("%.3g×", s.median)
	}
	return fmt.Sprintf("%.3g× (%.3g–%.3g)", s.median, s.lo, s.hi)
}

// runLabel names the module a file comes from: the last element of its pkg.
func runLabel(f *resultFile) string {
	if f.pkg == "" {
		return f.name
	}
	return f.pkg[strings.LastIndexByte(f.pkg, '/')+1:]
}

// num prints v with three significant digits, grouping thousands.
func num(v float64) string {
	if v >= 1000 {
		p := math.Pow(10, math.Floor(math.Log10(v))-2)
		return group(strconv.FormatFloat(math.Round(v/p)*p, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// exact prints v, an integer count, in full, grouping thousands.
func exact(v float64) string { return group(strconv.FormatFloat(math.Round(v), 'f', 0, 64)) }

func group(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
