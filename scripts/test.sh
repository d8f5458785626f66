#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, every test under the
# race detector, and the simulator's injected-bug tests. It needs only Go:
# staticcheck is fetched at a pinned version through `go run`.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck="honnef.co/go/tools/cmd/staticcheck@v0.8.2"
modules=(. $(find . -mindepth 2 -name go.mod -not -path './.git/*' -exec dirname {} \; | sort))

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

for m in "${modules[@]}"; do
  echo "== go vet ($m)"
  (cd "$m" && go vet ./...)
  echo "== staticcheck ($m)"
  (cd "$m" && go run "$staticcheck" ./...)
done

echo "== 32-bit build (GOARCH=386): no constant may assume a 64-bit int"
GOARCH=386 go build ./...

echo "== tests, race detector on"
go test -race -count=1 ./...

if [ -d internal/sim ]; then
  echo "== simulator catches injected bugs"
  go test -tags keelraft_bugs -count=1 -run TestInjectedBugs ./internal/sim
fi

for m in "${modules[@]:1}"; do
  case "$m" in
  ./bench*)
    echo "== tests ($m), benchmarks compiled and run once"
    (cd "$m" && go test -count=1 -run . -bench . -benchtime 1x ./...) ;;
  *)
    # Other modules (the KV example's end-to-end tests) start processes
    # and goroutines: race detector on.
    echo "== tests ($m), race detector on"
    (cd "$m" && go test -race -count=1 -timeout 10m ./...) ;;
  esac
done
