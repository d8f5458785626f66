package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/keelraft/raft/bench
BenchmarkW3/keelraft-2         	  125400	     13589 ns/op	     73588 entries/s	    4539 B/op	       1 allocs/op
BenchmarkW3/etcd-v3.7.0-2      	   68518	     24055 ns/op	     41571 entries/s	    3260 B/op	      65 allocs/op
BenchmarkW5/keelraft/encode-2  	   18306	     59657 ns/op	      8855 wire-bytes/msg	    9603 B/op	       2 allocs/op
BenchmarkW3/keelraft-2         	  125400	     10000 ns/op	     100000 entries/s	    4539 B/op	       1 allocs/op
BenchmarkW3/etcd-v3.7.0-2      	   68518	     20000 ns/op	     50000 entries/s	    3260 B/op	      65 allocs/op
PASS
pkg: github.com/keelraft/raft/bench
BenchmarkW3/keelraft-2         	  125400	     10000 ns/op	     90000 entries/s	    4539 B/op	       1 allocs/op
--- FAIL: BenchmarkW3/etcd-v3.7.0-2
FAIL
`
	rf, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rf.pkg != "github.com/keelraft/raft/bench" {
		t.Errorf("pkg = %q", rf.pkg)
	}
	if got := strings.Join(rf.order, " "); got != "W3/keelraft W3/etcd-v3.7.0 W5/keelraft/encode" {
		t.Errorf("order = %q", got)
	}
	if got := rf.results["W5/keelraft/encode"][0].metrics["wire-bytes/msg"]; got != 8855 {
		t.Errorf("wire bytes = %v", got)
	}
	ratios := pairedRatios(rf.results["W3/keelraft"], rf.results["W3/etcd-v3.7.0"], "entries/s", false)
	if len(ratios) != 2 || ratios[1] != 2 {
		t.Errorf("ratios = %v", ratios)
	}
	var out strings.Builder
	writeTables(&out, []*resultFile{rf}, "etcd")
	// The third keelraft result has no etcd result in its run to pair with.
	for _, want := range []string{"### W3", "| keelraft | bench | 90,000 | 73,600–100,000 |", "1.89× (1.77–2)", "### W5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.25: "0.25", 4.5: "4.5", 123: "123", 1234: "1,230", 446771: "447,000", 13589: "13,600"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
