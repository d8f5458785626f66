#!/usr/bin/env bash
# Runs the comparison: ROUNDS rounds (default 5), each running every benchmark
# once in this module (keelraft, etcd/raft v3.7.0, hashicorp/raft) and once in
# etcd36/ (keelraft, etcd/raft v3.6.0). Rounds interleave the libraries, so
# that on a busy machine every ratio compares results measured a minute
# apart, never a library's five runs against another's five runs later on.
# Raw results go to results.txt and etcd36/results.txt; the tables of
# BENCHMARKS.md are printed at the end.
#
#   ./run.sh                              # 5 rounds of everything
#   ROUNDS=3 BENCH='W3|W5' ./run.sh       # a subset
#   KEELRAFT_DIR=/tmp/kr ./run.sh         # measure another tree of keelraft
#
# KEELRAFT_DIR (an absolute path) replaces the library with that directory,
# for example an export of one commit (git archive HEAD | tar -x -C /tmp/kr),
# so that work in progress in ../ does not change between rounds. go.mod is
# left as it is: the replacement lives in temporary module files.
set -euo pipefail
cd "$(dirname "$0")"

rounds=${ROUNDS:-5}
bench=${BENCH:-.}
failed=

modflag() { :; }
if [ -n "${KEELRAFT_DIR:-}" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for m in main etcd36; do
		dir=.; [ "$m" = main ] || dir=$m
		cp "$dir/go.mod" "$tmp/$m.mod"
		cp "$dir/go.sum" "$tmp/$m.sum"
		go mod edit -replace "github.com/keelraft/raft=$KEELRAFT_DIR" "$tmp/$m.mod"
	done
	modflag() { echo "-modfile=$tmp/$1.mod"; }
fi

: >results.txt
: >etcd36/results.txt
for i in $(seq "$rounds"); do
	echo "== round $i of $rounds" >&2
	# A failed benchmark is reported, and the rounds go on: the tables
	# count the runs of every benchmark.
	go test $(modflag main) -run '^$' -bench "$bench" -benchmem -count 1 . | tee -a results.txt >&2 || failed=1
	(cd etcd36 && go test $(modflag etcd36) -run '^$' -bench "$bench" -benchmem -count 1 .) | tee -a etcd36/results.txt >&2 || failed=1
done
go run ./cmd/benchtable results.txt etcd36/results.txt
if [ -n "$failed" ]; then
	echo "run.sh: some benchmarks failed; see FAIL in results.txt and etcd36/results.txt" >&2
	exit 1
fi
