package transport

import (
	"encoding/binary"
	"testing"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/require"
)

// frame returns the bytes of a frame of type typ.
func frame(typ byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	return append(append(b, typ), payload...)
}

// msgFrame returns the frame of message m.
func msgFrame(t *testing.T, m raft.Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	return frame(frameMsg, b)
}

// Whatever arrives on the peer port, a bad connection is closed and the
// node goes on serving its peers.
func TestPeerPortClosesBadConnections(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", func(c *Config) { c.MaxFrameSize = 64 << 10 })
	connect(a, b)
	next := sendUntilDelivered(t, a, b, 1)

	goodHello := hello{kind: kindMessages, from: 7, to: 2}.appendFrame(nil)
	badMagic := hello{kind: kindMessages, from: 7, to: 2}.appendFrame(nil)
	badMagic[5] ^= 0xff
	badVersion := hello{kind: kindMessages, from: 7, to: 2}.appendFrame(nil)
	badVersion[9]++
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		bytes []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, frameHello, 1, 2, 3}},
		{"zero length", []byte{0, 0, 0, 0}},
		{"hello too long", frame(frameHello, make([]byte, maxHelloSize))},
		{"wrong magic", badMagic},
		{"wrong version", badVersion},
		{"hello for another node", hello{kind: kindMessages, from: 7, to: 3}.appendFrame(nil)},
		{"hello with our own ID", hello{kind: kindMessages, from: 2, to: 2}.appendFrame(nil)},
		{"hello with ID 0", hello{kind: kindMessages, from: 0, to: 2}.appendFrame(nil)},
		{"unknown connection kind", hello{kind: 9, from: 7, to: 2}.appendFrame(nil)},
		{"truncated hello", frame(frameHello, []byte{0x4b, 0x52})},
		{"message before hello", msgFrame(t, msg(7, 2, 1))},
		{"undecodable message", cat(goodHello, frame(frameMsg, []byte{0xc1}))},
		{"message too large", cat(goodHello, frame(frameMsg, make([]byte, 64<<10)))},
		{"unknown frame type", cat(goodHello, frame(99, nil))},
		{"snapshot frame on a message connection", cat(goodHello, frame(frameSnapChunk, make([]byte, 8)))},
		{"snapshot connection without begin", cat(hello{kind: kindSnapshot, from: 7, to: 2}.appendFrame(nil), frame(frameMsg, nil))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rawDial(t, b)
			_, err := c.Write(tt.bytes)
			require.NoError(t, err)
			requireClosedByPeer(t, c)
		})
	}
	require.Empty(t, b.raft.received(7))
	sendUntilDelivered(t, a, b, next)
}

// A message whose From is not the handshake's sender, or whose To is not
// this node, is dropped; the connection stays up.
func TestForeignMessagesAreDropped(t *testing.T) {
	b := newNode(t, 2, "", nil)
	c := rawDial(t, b)
	var out []byte
	out = append(out, hello{kind: kindMessages, from: 7, to: 2, httpURL: "http://seven"}.appendFrame(nil)...)
	out = append(out, msgFrame(t, msg(8, 2, 1))...) // From: not the sender
	out = append(out, msgFrame(t, msg(7, 3, 2))...) // To: not this node
	out = append(out, msgFrame(t, msg(7, 2, 3))...)
	_, err := c.Write(out)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(b.raft.received(7)) == 1 }, waitFor, tick)
	require.Empty(t, b.raft.received(8))
	require.EqualValues(t, 3, b.raft.received(7)[0].Index)
	require.Equal(t, "http://seven", b.PeerHTTP(7))

	_, err = c.Write(msgFrame(t, msg(7, 2, 4))) // still open
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(b.raft.received(7)) == 2 }, waitFor, tick)
}

// A message too large for a frame is dropped by the sender, which reports
// the peer unreachable and keeps the connection for the next ones.
func TestSenderDropsOversizedMessage(t *testing.T) {
	a := newNode(t, 1, "", func(c *Config) { c.MaxFrameSize = 8 << 10 })
	b := newNode(t, 2, "", nil)
	connect(a, b)
	next := sendUntilDelivered(t, a, b, 1)
	big := msg(1, 2, next)
	big.Type = raft.MsgApp
	big.Entries = []raft.Entry{{Index: 1, Term: 1, Data: make([]byte, 8<<10)}}
	a.Send([]raft.Message{big, msg(1, 2, next+1)})
	requireDelivered(t, b, 1, []uint64{next + 1})
	require.NotContains(t, b.raft.indexes(1), next)
	require.Positive(t, a.raft.unreachableCount(2))
}
