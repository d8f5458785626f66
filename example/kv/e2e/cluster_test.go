package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kvBinary is the kv binary TestMain built; buildErr says why there is none.
var (
	kvBinary string
	buildErr error
)

// rootModuleDir is the directory of module github.com/keelraft/raft, seen
// from this package's directory.
const rootModuleDir = "../../.."

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kv-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if bin := os.Getenv("KV_E2E_BINARY"); bin != "" {
		kvBinary = bin
	} else {
		kvBinary, buildErr = buildKV(dir)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildKV builds github.com/keelraft/raft/example/kv into dir.
func buildKV(dir string) (string, error) {
	bin := filepath.Join(dir, "kv")
	args := []string{"build", "-o", bin}
	if os.Getenv("KV_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/keelraft/raft/example/kv")
	cmd := exec.Command("go", args...)
	cmd.Dir = rootModuleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// A cluster is a set of `kv serve` processes on 127.0.0.1, each with its
// own ports and data directory. Every process is killed in t.Cleanup; if
// the test failed, each node's log is printed and kept on disk.
type cluster struct {
	t     *testing.T
	opts  clusterOptions
	dir   string
	nodes map[uint64]*node
	api   *api
}

// clusterOptions are the `kv serve` flags every node of a cluster gets.
type clusterOptions struct {
	snapshotEvery int  // --snapshot-every; 0 leaves the default
	debugFaults   bool // --debug-faults, enables POST /debug/cut
}

// A node is one member of the cluster, running or not.
type node struct {
	id       uint64
	peerAddr string // raft transport, "127.0.0.1:PORT"
	httpAddr string // client API, "127.0.0.1:PORT"
	dataDir  string
	logPath  string // stdout and stderr of every run, appended
	join     bool   // started with --join (added with POST /members)
	peers    string // --peers value
	// mayExit is set once the node was removed from the cluster: it may
	// then stop on its own without that being a failure.
	mayExit bool

	mu   sync.Mutex
	proc *process // the latest run; nil before the first start
}

// A process is one run of `kv serve`.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done is closed
	killed bool          // the test killed it
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// newCluster starts n nodes with ids 1..n as the initial members and waits
// until they have a leader.
func newCluster(t *testing.T, n int, opts clusterOptions) *cluster {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("the kv binary could not be built: %v", buildErr)
	}
	c := &cluster{t: t, opts: opts, dir: t.TempDir(), nodes: map[uint64]*node{}, api: newAPI()}
	t.Cleanup(c.cleanup)
	ports := freePorts(t, 2*n)
	for i := range n {
		id := uint64(i + 1)
		c.nodes[id] = c.newNode(id, ports[2*i], ports[2*i+1])
	}
	peers := c.peersFlag()
	for _, nd := range c.nodes {
		nd.peers = peers
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	c.waitHealthy()
	return c
}

func (c *cluster) newNode(id uint64, peerPort, httpPort int) *node {
	dir := filepath.Join(c.dir, fmt.Sprintf("node%d", id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return &node{
		id:       id,
		peerAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort)),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		dataDir:  filepath.Join(dir, "data"),
		logPath:  filepath.Join(dir, "kv.log"),
	}
}

// addNode allocates ports and a data directory for a new node id that will
// join the running cluster; it does not start it. The node's --peers lists
// every node the cluster has, itself included.
func (c *cluster) addNode(id uint64) *node {
	c.t.Helper()
	if _, ok := c.nodes[id]; ok {
		c.t.Fatalf("node %d already exists", id)
	}
	ports := freePorts(c.t, 2)
	nd := c.newNode(id, ports[0], ports[1])
	nd.join = true
	c.nodes[id] = nd
	nd.peers = c.peersFlag()
	return nd
}

// peersFlag is the --peers value naming every node of c.
func (c *cluster) peersFlag() string {
	var parts []string
	for _, id := range c.ids() {
		parts = append(parts, fmt.Sprintf("%d=%s", id, c.nodes[id].peerAddr))
	}
	return strings.Join(parts, ",")
}

// ids returns the ids of all nodes, running or not, in order.
func (c *cluster) ids() []uint64 {
	ids := make([]uint64, 0, len(c.nodes))
	for id := range c.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// running returns the ids of the nodes whose process is up, in order.
func (c *cluster) running() []uint64 {
	var ids []uint64
	for _, id := range c.ids() {
		if c.isRunning(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (c *cluster) node(id uint64) *node {
	nd, ok := c.nodes[id]
	if !ok {
		c.t.Fatalf("no node %d", id)
	}
	return nd
}

// url is node id's client URL, "http://127.0.0.1:PORT".
func (c *cluster) url(id uint64) string { return "http://" + c.node(id).httpAddr }

// start launches node id's process. It does not wait for it to serve.
func (c *cluster) start(id uint64) {
	c.t.Helper()
	if err := c.startErr(id); err != nil {
		c.t.Fatal(err)
	}
}

// startErr is start for goroutines other than the test's: it returns what
// start would fail the test with.
func (c *cluster) startErr(id uint64) error {
	nd := c.node(id)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.proc != nil && !nd.proc.exited() {
		return fmt.Errorf("node %d is already running", id)
	}
	args := []string{"serve",
		"--id", strconv.FormatUint(id, 10),
		"--peers", nd.peers,
		"--http", nd.httpAddr,
		"--data", nd.dataDir,
	}
	if nd.join {
		args = append(args, "--join")
	}
	if c.opts.snapshotEvery > 0 {
		args = append(args, "--snapshot-every", strconv.Itoa(c.opts.snapshotEvery))
	}
	if c.opts.debugFaults {
		args = append(args, "--debug-faults")
	}
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s: kv %s\n", time.Now().Format("15:04:05.000"), strings.Join(args, " "))
	cmd := exec.Command(kvBinary, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Should the test binary die without its cleanups (a go test
	// timeout), the nodes die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start node %d: %v", id, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	nd.proc = p
	return nil
}

// restart starts node id again, with the same ports and data directory,
// and waits until it serves /status.
func (c *cluster) restart(id uint64) {
	c.t.Helper()
	c.start(id)
	c.waitServing(id)
}

// kill9 kills node id's process with SIGKILL and waits until it is gone.
func (c *cluster) kill9(id uint64) {
	c.t.Helper()
	if err := c.kill9Err(id); err != nil {
		c.t.Fatal(err)
	}
}

// kill9Err is kill9 for goroutines other than the test's.
func (c *cluster) kill9Err(id uint64) error {
	nd := c.node(id)
	nd.mu.Lock()
	p := nd.proc
	if p == nil || p.exited() {
		nd.mu.Unlock()
		return fmt.Errorf("kill9: node %d is not running", id)
	}
	p.killed = true
	nd.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill node %d: %v", id, err)
	}
	<-p.done
	return nil
}

// pauseErr stops (SIGSTOP) or continues (SIGCONT) node id's process, as a
// long GC pause or a stalled VM would: it keeps its sockets but neither
// ticks nor answers until continued.
func (c *cluster) pauseErr(id uint64, pause bool) error {
	nd := c.node(id)
	nd.mu.Lock()
	p := nd.proc
	nd.mu.Unlock()
	if p == nil || p.exited() {
		return fmt.Errorf("pause: node %d is not running", id)
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to node %d: %v", sig, id, err)
	}
	return nil
}

// isRunning reports whether node id's process is up.
func (c *cluster) isRunning(id uint64) bool {
	nd := c.node(id)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.proc != nil && !nd.proc.exited()
}

// checkAlive fails the test if node id's process has exited.
func (c *cluster) checkAlive(id uint64) {
	c.t.Helper()
	nd := c.node(id)
	nd.mu.Lock()
	p := nd.proc
	nd.mu.Unlock()
	if p == nil {
		c.t.Fatalf("node %d was never started", id)
	}
	if p.exited() {
		c.t.Fatalf("node %d has exited: %v", id, p.err)
	}
}

// cleanup kills every process, reports those that died on their own, and
// prints and keeps the logs of a failed test.
func (c *cluster) cleanup() {
	for _, id := range c.ids() {
		nd := c.nodes[id]
		nd.mu.Lock()
		p := nd.proc
		if p == nil {
			nd.mu.Unlock()
			continue
		}
		if p.exited() {
			if !p.killed && !nd.mayExit {
				c.t.Errorf("node %d exited on its own: %v (see its log)", id, p.err)
			}
			nd.mu.Unlock()
			continue
		}
		p.killed = true
		nd.mu.Unlock()
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	c.api.close()
	for _, id := range c.ids() {
		data, _ := os.ReadFile(c.nodes[id].logPath)
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if bytes.Contains(data, []byte(bad)) {
				c.t.Errorf("node %d's log contains %q", id, bad)
			}
		}
	}
	if !c.t.Failed() && os.Getenv("KV_E2E_KEEP_LOGS") == "" {
		return
	}
	keep, err := os.MkdirTemp("", "kv-e2e-logs-"+sanitize(c.t.Name())+"-")
	if err != nil {
		c.t.Logf("cannot keep logs: %v", err)
	}
	for _, id := range c.ids() {
		nd := c.nodes[id]
		data, err := os.ReadFile(nd.logPath)
		if err != nil {
			c.t.Logf("node %d: no log: %v", id, err)
			continue
		}
		if keep != "" {
			_ = os.WriteFile(filepath.Join(keep, fmt.Sprintf("node%d.log", id)), data, 0o644)
		}
		c.t.Logf("---- node %d log (last 150 lines) ----\n%s", id, tailLines(data, 150))
	}
	if keep != "" {
		c.t.Logf("full node logs kept in %s", keep)
	}
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, name)
}

func tailLines(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago: it listens on port 0 n times, then closes the listeners.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	var ls []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// httpClient is the client the harness uses: short timeouts, because a
// killed node never answers.
func httpClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}
