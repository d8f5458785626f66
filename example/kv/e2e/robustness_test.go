package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// The peer protocol's framing, as the transport documents it: a 4-byte
// big-endian length (counting the type byte), a type byte, the payload.
// The first frame of a connection is a hello.
const (
	frameHello     = 1
	frameMsg       = 2
	frameSnapBegin = 3
	frameSnapChunk = 5

	kindMessages = 1
	kindSnapshot = 2
)

func frame(typ byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	b = append(b, typ)
	return append(b, payload...)
}

// helloFrame is a well-formed hello: magic "KRFT", wire version 1, the
// connection kind, sender and receiver ids, the sender's HTTP URL.
func helloFrame(kind byte, from, to uint64) []byte {
	url := "http://127.0.0.1:1"
	p := binary.BigEndian.AppendUint32(nil, 0x4b524654)
	p = binary.BigEndian.AppendUint16(p, 1)
	p = append(p, kind)
	p = binary.BigEndian.AppendUint64(p, from)
	p = binary.BigEndian.AppendUint64(p, to)
	p = binary.BigEndian.AppendUint16(p, uint16(len(url)))
	p = append(p, url...)
	return frame(frameHello, p)
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// sendRaw writes each chunk to a new connection to addr, then waits a
// moment for the node to answer or hang up, and closes.
func sendRaw(t *testing.T, addr string, chunks ...[]byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	for _, b := range chunks {
		if _, err := conn.Write(b); err != nil {
			return // the node hung up: that is an acceptable answer
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
}

// Garbage, oversized length prefixes, malformed handshakes and random
// frames on the peer port close those connections; the node keeps running,
// serving, and replicating.
func TestPeerPortSurvivesGarbage(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	acked := map[string]string{}
	c.putKeys(acked, "before", 5)
	victim := c.follower()
	other := c.leader()
	addr := c.node(victim).peerAddr
	rng := rand.New(rand.NewPCG(7, 7))

	huge := []byte{0xff, 0xff, 0xff, 0xff, frameMsg}
	cases := []struct {
		name   string
		chunks [][]byte
	}{
		{"random bytes", [][]byte{randomBytes(rng, 64<<10)}},
		{"huge length prefix", [][]byte{huge, randomBytes(rng, 1024)}},
		{"hello with huge length", [][]byte{{0x7f, 0xff, 0xff, 0xff, frameHello}}},
		{"zero length", [][]byte{{0, 0, 0, 0}}},
		{"truncated hello", [][]byte{helloFrame(kindMessages, other, victim)[:10]}},
		{"hello with bad magic", [][]byte{append([]byte{0, 0, 0, 30, frameHello, 'X', 'X'}, randomBytes(rng, 28)...)}},
		{"hello with unknown kind", [][]byte{helloFrame(9, other, victim)}},
		{"hello from id 0", [][]byte{helloFrame(kindMessages, 0, victim)}},
		{"hello to another node", [][]byte{helloFrame(kindMessages, other, victim+10)}},
		{"message frame before hello", [][]byte{frame(frameMsg, randomBytes(rng, 100))}},
		{"huge frame after hello", [][]byte{helloFrame(kindMessages, other, victim), huge}},
		{"truncated frame after hello", [][]byte{helloFrame(kindMessages, other, victim), frame(frameMsg, randomBytes(rng, 1000))[:200]}},
		{"snapshot begin with garbage", [][]byte{helloFrame(kindSnapshot, other, victim), frame(frameSnapBegin, randomBytes(rng, 64))}},
		{"snapshot chunk at a huge offset", [][]byte{helloFrame(kindSnapshot, other, victim),
			frame(frameSnapChunk, append(binary.BigEndian.AppendUint64(nil, 1<<62), randomBytes(rng, 100)...))}},
	}
	// Random frames of every type with random payloads, from a member id
	// and from a stranger.
	for i := range 20 {
		from := other
		if i%2 == 1 {
			from = 99
		}
		kind := byte(kindMessages)
		if i%4 >= 2 {
			kind = kindSnapshot
		}
		chunks := [][]byte{helloFrame(kind, from, victim)}
		for range 10 {
			chunks = append(chunks, frame(byte(rng.IntN(8)), randomBytes(rng, rng.IntN(300))))
		}
		cases = append(cases, struct {
			name   string
			chunks [][]byte
		}{fmt.Sprintf("random frames %d", i), chunks})
	}
	for _, tc := range cases {
		sendRaw(t, addr, tc.chunks...)
		c.checkAlive(victim)
		if _, err := c.api.status(c.url(victim)); err != nil {
			t.Fatalf("after %q: node %d does not serve /status: %v", tc.name, victim, err)
		}
	}

	c.putKeys(acked, "after", 5)
	c.waitCaughtUp(victim)
	c.checkAll(victim, acked, true)
	for _, id := range c.ids() {
		c.checkAlive(id)
	}
}

// Malformed HTTP requests get 4xx answers (400 malformed, 404 unknown
// route, 405 wrong method, 413 too large) and the node keeps serving.
func TestHTTPRejectsMalformedRequests(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.mustPut("k", "v")
	id := c.follower()
	base := c.url(id)

	big := bytes.Repeat([]byte("x"), 1<<20+1)
	cases := []struct {
		method, path string
		body         []byte
		want         []int // any of these
	}{
		{"PUT", "/kv/k?if_mod_revision=abc", []byte("v"), []int{400}},
		{"PUT", "/kv/k?timeout_ms=soon", []byte("v"), []int{400}},
		{"PUT", "/kv/k?session=abc&seq=1", []byte("v"), []int{400}},
		{"PUT", "/kv/k?session=1&seq=xyz", []byte("v"), []int{400}},
		{"DELETE", "/kv/k?if_mod_revision=abc", nil, []int{400}},
		{"GET", "/kv/k?consistency=bogus", nil, []int{400}},
		{"POST", "/sessions", []byte("{not json"), []int{400}},
		{"POST", "/sessions", []byte(`{"ttl_ms": "soon"}`), []int{400}},
		{"POST", "/members", []byte("{not json"), []int{400}},
		{"POST", "/members", []byte(`{"id": 0, "peer_addr": "127.0.0.1:1"}`), []int{400}},
		{"POST", "/members", []byte(`{"id": "four"}`), []int{400}},
		{"DELETE", "/members/abc", nil, []int{400, 404}},
		{"DELETE", "/members/12345", nil, []int{404}},
		{"PUT", "/kv/k", big, []int{413}},
		{"PUT", "/kv/k", bytes.Repeat([]byte("y"), 8<<20), []int{413}},
		{"POST", "/sessions", bytes.Repeat([]byte(" "), 2<<20), []int{400, 413}},
		{"GET", "/nope", nil, []int{404}},
		{"GET", "/", nil, []int{404}},
		{"GET", "/kv", nil, []int{404, 400}},
		{"PATCH", "/kv/k", []byte("v"), []int{405}},
		{"POST", "/status", nil, []int{405}},
		{"PUT", "/members", nil, []int{405}},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, body, err := c.api.do(ctx, tc.method, base+tc.path, tc.body)
		cancel()
		switch {
		case err != nil:
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
		case !slices.Contains(tc.want, code):
			t.Errorf("%s %s: status %d, want one of %v; body %q", tc.method, tc.path, code, tc.want, trim(body))
		case code != 404 && code != 405:
			// Application errors are JSON with a header and a text.
			var r struct {
				Header *respHeader `json:"header"`
				Error  string      `json:"error"`
			}
			if jerr := json.Unmarshal(body, &r); jerr != nil || r.Header == nil || r.Error == "" {
				t.Errorf("%s %s: status %d with body %q, want JSON {header, error}", tc.method, tc.path, code, trim(body))
			}
		}
		c.checkAlive(id)
	}

	// Not HTTP at all, on the HTTP port.
	sendRaw(t, c.node(id).httpAddr, []byte("HELLO\x00\xff\r\n\r\n"))
	sendRaw(t, c.node(id).httpAddr, []byte("GET /kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n"))

	c.checkAlive(id)
	r, found := c.mustGet(id, "k", false)
	if !found || r.Value != "v" {
		t.Fatalf("after the malformed requests node %d reads k = %+v (found %t), want v", id, r, found)
	}
	c.mustPut("k", "w")
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
