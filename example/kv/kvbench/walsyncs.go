package kvbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// NodeSyncs is what one node's write-ahead log did during a run: how many
// fsyncs, and their mean duration. It is the fsync time on the servers'
// disk under the run's load, next to the idle one Calibrate measures.
type NodeSyncs struct {
	// ID is the node's id.
	ID uint64
	// Syncs is the number of fsyncs of the node's log during the run.
	Syncs int64
	// Mean is their mean duration.
	Mean time.Duration
}

// walCounters are the fields of GET /status that count a node's fsyncs.
type walCounters struct {
	ID     uint64 `json:"id"`
	Syncs  int64  `json:"wal_syncs"`
	Micros int64  `json:"wal_sync_us"`
}

// readWALCounters asks every endpoint for its fsync counters; endpoints
// that do not answer are left out (a node may be down).
func readWALCounters(ctx context.Context, hc *http.Client, endpoints []string) map[uint64]walCounters {
	out := map[uint64]walCounters{}
	for _, e := range endpoints {
		c, err := readStatus(ctx, hc, e)
		if err == nil {
			out[c.ID] = c
		}
	}
	return out
}

func readStatus(ctx context.Context, hc *http.Client, endpoint string) (walCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/status", nil)
	if err != nil {
		return walCounters{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return walCounters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return walCounters{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var c walCounters
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c)
	return c, err
}

// nodeSyncs returns, for each node counted both before and after, its
// fsyncs in between, by id.
func nodeSyncs(before, after map[uint64]walCounters) []NodeSyncs {
	var out []NodeSyncs
	for id, a := range after {
		b, ok := before[id]
		if !ok || a.Syncs < b.Syncs {
			continue // a node that restarted counts from zero again
		}
		ns := NodeSyncs{ID: id, Syncs: a.Syncs - b.Syncs}
		if ns.Syncs > 0 {
			ns.Mean = time.Duration((a.Micros-b.Micros)/ns.Syncs) * time.Microsecond
		}
		out = append(out, ns)
	}
	slices.SortFunc(out, func(x, y NodeSyncs) int { return int(x.ID) - int(y.ID) })
	return out
}

// reportNodeSyncs writes the nodes' fsyncs during the run on one line.
func reportNodeSyncs(w io.Writer, syncs []NodeSyncs, elapsed time.Duration) {
	if len(syncs) == 0 {
		return
	}
	fmt.Fprint(w, "wal fsyncs during the run:")
	for _, ns := range syncs {
		fmt.Fprintf(w, "  node %d: %.0f/s, mean %v", ns.ID, perSecond(ns.Syncs, elapsed), round(ns.Mean))
	}
	fmt.Fprintln(w)
}
