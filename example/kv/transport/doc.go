// Package transport carries raft messages between the nodes of the example
// KV service over TCP.
//
// # Use
//
//	t, err := transport.New(transport.Config{
//		ID: 1, ListenAddr: "127.0.0.1:7001", AdvertiseHTTP: "http://127.0.0.1:8001",
//		Raft: node, // Process, ReportUnreachable, ReportSnapshot
//	})
//	...
//	t.AddPeer(2, "127.0.0.1:7002")
//	t.AddPeer(3, "127.0.0.1:7003")
//	...
//	rd := rn.Ready()
//	t.Send(rd.Messages) // never blocks on the network
//
// # Connections
//
// Each node dials each of its peers: one persistent message connection per
// peer, written by one goroutine and never written back to by the listener,
// plus one short-lived connection per snapshot transfer, so that a large
// snapshot never delays heartbeats. Messages from peer P therefore arrive on
// the connection P dialed, in the order P sent them.
//
// Send puts a message into the peer's bounded queue (Config.QueueSize). The
// peer's goroutine takes everything queued (up to 1024 messages), writes it
// into a buffered writer and flushes once. When the queue is full, the
// message is dropped and Raft.ReportUnreachable called (from another
// goroutine: Send never calls Raft). A failed dial, a failed write or a
// connection closed by the peer also calls ReportUnreachable; the writer
// then redials after a backoff that doubles from 50ms to 2s, dropping the
// messages queued meanwhile (Raft resends what still matters).
//
// # Wire format
//
// Every connection is a sequence of frames:
//
//	length  uint32, big endian: the bytes that follow, type included (1..MaxFrameSize)
//	type    byte
//	payload length-1 bytes
//
// Integers are big endian. The frame types and their payloads:
//
//	1 hello      magic "KRFT" (4 bytes), version uint16 (1), kind byte (1 messages, 2 snapshot),
//	             sender ID uint64, receiver ID uint64, URL length uint16, the sender's AdvertiseHTTP
//	2 message    one raft.Message, in the msgpack of raft.Message.Marshal
//	3 snap begin data size uint64, CRC32C (Castagnoli) of the data uint32,
//	             the MsgSnap's raft.Message with Snapshot.Data left out (nil)
//	4 snap ack   offset uint64: where the receiver wants the data to start
//	5 snap chunk offset uint64, then data bytes from that offset
//	6 snap done  outcome byte: 0 delivered, 1 checksum mismatch, 2 refused by Raft.Process
//
// The dialer writes a hello first. The listener closes the connection,
// logging why, on a wrong magic or version, a receiver ID that is not its
// own, a frame longer than MaxFrameSize (4 KiB for the hello), an
// unexpected frame type or a message that does not decode; the node goes on.
// A message whose From is not the hello's sender, or whose To is not this
// node, is dropped. PeerHTTP returns the URL of a peer's last hello.
//
// A message connection carries hello, then message frames, one way.
//
// # Snapshots
//
// A MsgSnap is not queued: a goroutine per transfer (one per peer at a time;
// a newer MsgSnap cancels the older transfer) dials a snapshot connection
// and runs
//
//	sender                              receiver
//	hello, snap begin          ->
//	                           <-       snap ack (offset)
//	snap chunk ... snap chunk  ->       (offset .. size, Config.SnapshotChunk bytes each)
//	                           <-       snap done (outcome)
//
// The receiver checks the CRC32C of the reassembled data, and only then
// passes the whole MsgSnap to Raft.Process; the sender reports the outcome
// with Raft.ReportSnapshot: SnapshotFinish on outcome 0, SnapshotFailure on
// outcome 2 or when it gives up.
//
// Resuming: the receiver keeps what it has received of a transfer, keyed by
// (sender, snapshot index, snapshot term) and checked against the declared
// size and checksum, after the connection breaks. The sender, after a
// failed attempt, reports the peer unreachable, waits its backoff and dials
// again; the receiver's ack on the new connection tells it where to resume,
// so the sender needs no state beyond the snapshot itself, and a sender that
// restarted and sends the same snapshot resumes too. The ack is 0 for a new
// transfer (or after a checksum mismatch, which drops what was received). A
// receiver keeps at most one partial transfer per sender (a newer snapshot
// replaces it) and forgets one that nobody resumed for five minutes. If the
// sender redials before the receiver noticed the old connection break, the
// new connection waits up to two seconds for the old one to read what it
// has, then closes it. The sender gives up after five attempts in a row
// that moved no data. If only the outcome frame is lost, the retry sends
// the snapshot again, and Raft sees it twice, which Raft tolerates.
//
// # Faults
//
// Cut(id, true) drops every message to and from id (a MsgSnap to id fails
// at once with SnapshotFailure) until Cut(id, false), while the connections
// stay up: a network partition for tests.
package transport
