// Package client is a Go client of the kv example's HTTP API.
//
//	c, err := client.New([]string{"http://127.0.0.1:8001", "http://127.0.0.1:8002"}, client.Options{})
//	...
//	r, err := c.Put(ctx, "greeting", []byte("hello"))       // r.KV.ModRevision, r.Header.Revision
//	g, err := c.Get(ctx, "greeting")                         // linearizable; c.Get(ctx, k, client.Stale()) for a local read
//	_, err = c.CompareAndSwap(ctx, "greeting", []byte("hi"), g.KV.ModRevision)
//	if errors.Is(err, client.ErrCompareFailed) { ... }     // someone else wrote first
//
// # Leader and failover
//
// The client sends every request to the leader. It learns who leads from
// GET /status on one of its endpoints, or from the leader_url of a 503
// answer, and keeps using it while it answers. On a connection error, a
// timeout (Options.Timeout per attempt), a 503 or another 5xx, it tries
// again, on the next endpoint, after a pause that doubles from
// Options.InitialBackoff to Options.MaxBackoff. A call gives up when the
// caller's context ends (the error wraps ctx.Err()) or after
// Options.MaxRetryTime (the error wraps ErrUnavailable).
//
// # Sessions and exactly-once writes
//
// Writes (Put, CompareAndSwap, Delete, CompareAndDelete) run in client
// sessions (Raft thesis §6.3). The client opens a session (POST /sessions)
// on the first write, and numbers the writes of a session 1, 2, 3... Every
// attempt of a write carries the same (session, seq); the cluster applies
// the first attempt that reaches it and answers the others with the
// remembered result. So a write retried after a timeout is applied once,
// and its answer is the answer of that one application.
//
// The cluster remembers only the last seq of a session, so a session must
// not have two writes in flight. The client keeps a pool of sessions and
// lends one to each write until the write is over, retries included:
// writes from many goroutines run in parallel, on up to
// Options.MaxSessions sessions (more writers wait). Sessions are opened
// lazily, one per concurrent writer, and dropped after being idle half
// their TTL (Options.SessionTTL).
//
// # Writes whose outcome is unknown
//
// Every write ends in one of three ways:
//
//   - success: it was applied exactly once; the result is that of the
//     application, even if a retry brought it;
//   - a definite error (ErrCompareFailed, ErrValueTooLarge, ErrBadRequest,
//     ErrClosed, or any error that does not wrap ErrOutcomeUnknown): it was
//     not applied;
//   - an error wrapping ErrOutcomeUnknown: it was applied once or not at
//     all, never twice, and the client cannot tell which. This happens
//     when the call gives up (context done, MaxRetryTime spent) after an
//     attempt that may have reached the leader (a timeout, a broken
//     connection, a 504), and when the session expired (410) after such
//     an attempt: the expired session's memory is gone, and sending the
//     write again in a new session could apply it twice, so the client
//     does not. The error then also wraps ErrSessionExpired. Read the key
//     to find out.
//
// A 410 before any uncertain attempt is no error: nothing was written, so
// the client moves the write to a fresh session and sends it again.
//
// After an unknown outcome the session is reused with the next seq. If the
// lost attempt is still on its way, the cluster refuses it as stale once a
// later seq is applied, so it can never be applied after a later write of
// the same session.
//
// Membership changes (AddMember, RemoveMember) have no session; their
// retries are not deduplicated (see AddMember).
//
// # Batching
//
// Writes from concurrent goroutines to the same endpoint travel together
// ("natural batching"). A write that finds no write request in flight to
// its endpoint, or fewer than Options.MaxBatchesInFlight each carrying a
// single write, is sent at once, alone, as PUT or DELETE /kv/{key}: a lone
// writer pays nothing for batching, and a few overlap. Any other write
// waits; when a request returns, or once as many writes wait as the batch
// in flight carries, every write waiting, up to Options.MaxBatch, goes in
// one POST /batch. So under load the writers split between two batches
// of about equal size, each half a round trip behind the other. No timer
// holds a write back: batches grow with the load only.
//
// Batching changes how writes travel, not what they mean. Each write keeps
// its own session and seq, and its own result in the batch answer is
// judged as the answer to a single request would be: a 412 is
// ErrCompareFailed, a 503 naming the leader sends the write there, a 504
// leaves its outcome unknown, each for that write alone. A failure of the
// whole request (a broken connection, a timeout, a 503 or 504 answered
// for the whole batch) is a failure of each of its writes, with the
// meaning it has for a single request, and each write then retries on
// its own. A batch refused as a whole (400 or 413: a write in it is
// invalid, and nothing was applied; 404: a server without POST /batch) is
// sent again write by write, so that each gets its own answer. Values over
// 64 KiB always go alone. Options.DisableBatching turns batching off.
//
// A batch travels in a compact binary form (msgpack; the server answers
// in kind with only what the client needs, not the keys and values it
// sent), which costs both ends a small fraction of JSON. A server that
// does not read it (400 or 415; an older server reads every batch as
// JSON) gets the batch again in JSON, and JSON batches for a minute.
// Options.JSONBatches sends JSON always, as curl users write it.
package client
