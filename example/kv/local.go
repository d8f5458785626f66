package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keelraft/raft/example/kv/server"
)

// runLocal runs a 3-node cluster in this process until ctx ends.
func runLocal(ctx context.Context, o localOptions, stdout, stderr io.Writer) error {
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(dir)
	restart := statErr == nil
	peers := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		peers[id] = "127.0.0.1:" + strconv.Itoa(o.basePort+peerPortOffset+int(id))
	}
	log := newLogger(stderr, o.logLevel)
	var nodes []*server.Server
	defer func() {
		for _, s := range nodes {
			if err := s.Stop(); err != nil {
				fmt.Fprintf(stderr, "kv: stop node %d: %v\n", s.ID(), err)
			}
		}
	}()
	for id := uint64(1); id <= 3; id++ {
		s, err := server.Start(server.Config{
			ID:         id,
			Peers:      peers,
			ListenHTTP: "127.0.0.1:" + strconv.Itoa(o.basePort+int(id)),
			DataDir:    filepath.Join(dir, "node"+strconv.FormatUint(id, 10)),
			Logger:     log,
		})
		if err != nil {
			return fmt.Errorf("start node %d: %w", id, err)
		}
		nodes = append(nodes, s)
	}
	lead, err := waitForLeader(ctx, nodes[0].HTTPURL())
	if err != nil {
		return err
	}

	how := "new cluster"
	if restart {
		how = "restarted from disk"
	}
	fmt.Fprintf(stdout, "kv: 3-node cluster up (%s), node %d leads; data in %s\n", how, lead, dir)
	fmt.Fprintf(stdout, "    run again with the same --data to restart from disk; delete it for a fresh cluster\n\n")
	for _, s := range nodes {
		fmt.Fprintf(stdout, "  node %d  %s  (raft %s)\n", s.ID(), s.HTTPURL(), s.PeerAddr())
	}
	u1, u2, u3 := nodes[0].HTTPURL(), nodes[1].HTTPURL(), nodes[2].HTTPURL()
	fmt.Fprintf(stdout, `
Try it (any node answers; followers forward writes to the leader):

  curl -s -X PUT %[1]s/kv/hello -d world                      # put
  curl -s %[2]s/kv/hello                                      # linearizable get
  curl -s '%[3]s/kv/hello?consistency=stale'                  # local read
  curl -s -X PUT '%[1]s/kv/lock?if_mod_revision=0' -d me      # CAS: create if absent (412 if present)
  curl -s -X PUT '%[1]s/kv/lock?if_mod_revision=1' -d you     # CAS: 412 with the current mod_revision unless it is 1
  curl -s -X DELETE %[1]s/kv/hello                            # delete
  curl -s %[1]s/status                                        # raft state; progress of followers on the leader
  curl -s %[1]s/members                                       # membership

Ctrl-C stops the cluster.
`, u1, u2, u3)

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nkv: stopping")
	return nil
}

// waitForLeader polls url's /status until it names a leader.
func waitForLeader(ctx context.Context, url string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if lead := leaderOf(ctx, url); lead != 0 {
			return lead, nil
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("no leader elected within 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leaderOf returns the leader url's /status names, or 0.
func leaderOf(ctx context.Context, url string) uint64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st struct {
		Leader uint64 `json:"leader"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return 0
	}
	return st.Leader
}
