// Package e2e holds the end-to-end tests of the KV example: they build the
// kv binary once, run real `kv serve` processes on 127.0.0.1, kill them with
// SIGKILL, cut their links, and check what clients observed.
//
// The tests read as claims about the running service:
//
//   - durability_test.go: every acknowledged write survives kill -9 of a
//     follower and of the leader; a restarted node catches up, by log or by
//     snapshot.
//   - membership_test.go: a node added with POST /members and started with
//     --join catches up and serves; removed nodes leave and the rest commit.
//   - linearizability_test.go: concurrent puts, gets and compare-and-sets
//     under crashes, pauses and cut links form a linearizable history,
//     sent as raw HTTP requests; client_test.go: the same through
//     example/kv/client with its retries and sessions. model_test.go holds
//     the porcupine model, the preparation of histories, and the tests
//     showing that the checker rejects violations.
//   - robustness_test.go: garbage on the peer port and malformed HTTP
//     requests get errors, never a crash.
//   - exactlyonce_test.go: a write whose response was lost is retried by the
//     client and applied once, also across a leader change.
//
// The harness is in cluster_test.go (processes), wait_test.go (polling)
// and api_test.go (HTTP). Run with
//
//	cd example/kv/e2e && go test -race -count=1 ./...
//
// Set KV_E2E_RACE=1 to build the kv binary itself with the race detector
// (slower), KV_E2E_BINARY=path to test a kv binary built elsewhere (for
// example a deliberately broken one, to see a test catch it), and
// KV_E2E_KEEP_LOGS=1 to keep every node's log, not only those of failed
// tests.
package e2e
