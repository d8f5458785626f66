// Package store is the replicated state machine of the kv example: a map of
// keys to values with etcd-style revisions, client sessions for exactly-once
// writes (Raft thesis §6.3), and the cluster's address book.
//
// # Data model
//
// The store has one cluster-wide revision. Every write that changes
// something (a put, a delete that deleted a key) raises it by one and stamps
// the key with it:
//
//	put a   -> revision 1; a{create 1, mod 1, version 1}
//	put a   -> revision 2; a{create 1, mod 2, version 2}
//	put b   -> revision 3; b{create 3, mod 3, version 1}
//	del a   -> revision 4; a is gone
//	del a   -> revision 4; nothing deleted, nothing changes
//	put a   -> revision 5; a{create 5, mod 5, version 1}
//
// A command with Cond set applies only if the key's ModRevision equals
// IfModRevision (0: only if the key is absent); otherwise Result.Failed is set
// and Result.KV holds the current value.
//
// # Sessions
//
// OpOpenSession creates a session whose id is the index of its log entry.
// Every write carrying that Session also carries a Seq. The store remembers,
// per session, the highest Seq applied and its Result:
//
//	seq >  last: apply the command, remember (seq, result)
//	seq == last: a retry; return the remembered result, apply nothing
//	seq <  last: Err "stale sequence", apply nothing
//
// The store's clock is the largest Command.Time applied; it never goes
// back. A session not used for longer than its TTL by that clock is deleted
// during Apply, so expiry is a function of the log alone: every replica, and
// a replica restored from a snapshot, expires the same sessions at the same
// entry. A write naming a missing session gets Err "session expired" and
// writes nothing.
//
// # Snapshots
//
// Snapshot encodes keys, revision, applied index, clock, sessions and members
// in msgpack with every collection sorted, so two replicas that applied the
// same entries produce identical bytes.
//
// # Use
//
// The server calls Apply for each committed normal entry, in log order:
//
//	for _, e := range rd.CommittedEntries {
//		switch e.Type {
//		case raft.EntryNormal:
//			res, err := st.Apply(e.Index, e.Data) // empty Data only marks e.Index applied
//			// err: the entry is not a Command (logged; the index is consumed)
//			// res.Err: a session error; nothing was written
//		case raft.EntryConfChange:
//			// apply it to raft, then st.SetMember / st.RemoveMember and
//			// st.MarkApplied(e.Index)
//		}
//	}
//
// Get, Revision, Members and Snapshot may be called concurrently with Apply.
package store
