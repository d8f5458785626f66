// Package inflight keeps the leader's window of append messages that are on
// their way to one follower and not yet acknowledged: flow control for log
// replication.
//
// Once a follower's log is known to match, the leader sends AppendEntries
// (Raft paper §5.3) back to back without waiting for each answer, which is
// the pipelining of the Raft thesis §10.2.2. Inflights bounds that pipeline,
// both in the number of messages and in the bytes of entries they carry, so
// that a slow or unreachable follower cannot make the leader buffer an
// unbounded amount of outgoing data.
package inflight

import "fmt"

// minGrow is the first size of the backing buffer, unless the window is
// smaller still.
const minGrow = 4

// entry describes one in-flight append message.
type entry struct {
	index uint64 // index of the last entry the message carries
	bytes uint64 // payload size of the entries the message carries
}

// Inflights is a bounded FIFO of in-flight append messages to one follower,
// kept in a ring buffer. The leader records each message it sends with Add
// and releases messages with FreeLE as the follower acknowledges them; Full
// says when to stop sending.
//
// The backing buffer grows on demand up to the maximum count, so a large
// window costs memory only for the follower that fills it. Once grown it is
// reused: Add and FreeLE do not allocate in steady state.
//
// An Inflights is not safe for concurrent use.
type Inflights struct {
	start int    // position of the oldest entry in buffer
	count int    // number of entries in flight
	bytes uint64 // total bytes of entries in flight

	maxCount int    // window size in messages
	maxBytes uint64 // window size in bytes; 0 means no byte limit

	// buffer holds the entries at positions start, start+1, ... modulo
	// len(buffer). Its length is at most maxCount.
	buffer []entry
}

// New returns an empty window that admits at most maxCount messages and,
// when maxBytes is not 0, stops admitting messages once maxBytes bytes are in
// flight. maxCount must be positive.
func New(maxCount int, maxBytes uint64) *Inflights {
	if maxCount <= 0 {
		panic(fmt.Sprintf("inflight: maxCount must be positive, got %d", maxCount))
	}
	return &Inflights{maxCount: maxCount, maxBytes: maxBytes}
}

// Add records a message that carries entries up to index with a payload of
// bytes bytes. Messages must be added in increasing order of index, and only
// while Full reports false.
//
// Add panics when the window already holds maxCount messages, or when index
// is below that of the newest message in flight: either means the caller
// broke its side of the contract. It does not panic when only the byte limit
// is reached, so that one message larger than the whole byte budget can still
// be sent to an idle follower.
func (in *Inflights) Add(index, bytes uint64) {
	if in.count >= in.maxCount {
		panic(fmt.Sprintf("inflight: Add(%d) on a full window: %d messages in flight, limit %d; check Full before sending",
			index, in.count, in.maxCount))
	}
	if in.count > 0 {
		if last := in.buffer[in.pos(in.count-1)].index; index < last {
			panic(fmt.Sprintf("inflight: Add(%d) after Add(%d): messages must be added in increasing order of index",
				index, last))
		}
	}
	if in.count == len(in.buffer) {
		in.grow()
	}
	in.buffer[in.pos(in.count)] = entry{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// pos returns the buffer position of the i-th oldest entry in flight.
func (in *Inflights) pos(i int) int {
	p := in.start + i
	if p >= len(in.buffer) {
		p -= len(in.buffer)
	}
	return p
}

// grow enlarges the full buffer, doubling it up to maxCount, and moves the
// entries to its front in order.
func (in *Inflights) grow() {
	size := max(2*len(in.buffer), minGrow)
	size = min(size, in.maxCount)
	buf := make([]entry, size)
	n := copy(buf, in.buffer[in.start:])
	copy(buf[n:], in.buffer[:in.start])
	in.buffer = buf
	in.start = 0
}

// FreeLE releases every message whose last index is at most index: the
// follower has acknowledged the log up to index, so those messages are no
// longer in flight. Messages beyond index stay.
func (in *Inflights) FreeLE(index uint64) {
	for in.count > 0 {
		e := &in.buffer[in.start]
		if e.index > index {
			break
		}
		in.bytes -= e.bytes
		in.count--
		in.start++
		if in.start == len(in.buffer) {
			in.start = 0
		}
	}
}

// FreeFirstOne releases the oldest message in flight, if any. A leader whose
// window stays full while the follower answers heartbeats uses it to send one
// more append: the lost messages it stands for are then found by the
// follower's rejection.
func (in *Inflights) FreeFirstOne() {
	if in.count > 0 {
		in.FreeLE(in.buffer[in.start].index)
	}
}

// Full reports whether the window admits no more messages: either maxCount
// messages are in flight, or there is a byte limit and the bytes in flight
// have reached it.
func (in *Inflights) Full() bool {
	return in.count >= in.maxCount || (in.maxBytes > 0 && in.bytes >= in.maxBytes)
}

// Count returns the number of messages in flight.
func (in *Inflights) Count() int { return in.count }

// Bytes returns the total payload bytes of the messages in flight.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// Reset empties the window, as when the leader stops pipelining to the
// follower and probes it again. The buffer is kept for later use.
func (in *Inflights) Reset() {
	in.start = 0
	in.count = 0
	in.bytes = 0
}

// Clone returns an independent copy of in, for example to report a
// follower's state without sharing the leader's buffer.
func (in *Inflights) Clone() *Inflights {
	c := *in
	c.buffer = nil
	c.start = 0
	if in.count > 0 {
		c.buffer = make([]entry, in.count)
		for i := range in.count {
			c.buffer[i] = in.buffer[in.pos(i)]
		}
	}
	return &c
}
