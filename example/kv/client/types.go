package client

// Header is the header of every answer of the server.
type Header struct {
	// MemberID is the id of the node that answered.
	MemberID uint64 `json:"member_id"`
	// RaftTerm is that node's raft term.
	RaftTerm uint64 `json:"raft_term"`
	// Revision is the store's revision the answer reflects.
	Revision int64 `json:"revision"`
}

// KeyValue is a key with its value and revisions.
type KeyValue struct {
	// Key is the key.
	Key string
	// Value is the value.
	Value []byte
	// CreateRevision is the revision of the put that created the key.
	CreateRevision int64
	// ModRevision is the revision of the key's last put.
	ModRevision int64
	// Version counts the puts since the key was created.
	Version int64
}

// KVResponse is the answer to Put, CompareAndSwap and Get.
type KVResponse struct {
	// Header is the answer's header.
	Header Header
	// KV is the key after the put, or as read.
	KV KeyValue
}

// DeleteResponse is the answer to Delete and CompareAndDelete.
type DeleteResponse struct {
	// Header is the answer's header; Header.Revision is the revision after
	// the delete.
	Header Header
	// Deleted is 1 if the key was removed, 0 if it was absent.
	Deleted int64
}

// Member is one node of the cluster.
type Member struct {
	// ID is the raft node id.
	ID uint64 `json:"id"`
	// PeerAddr is the address of the node's raft transport.
	PeerAddr string `json:"peer_addr"`
	// ClientURL is the node's HTTP API, "" if not known (yet) to the node
	// that answered. AddMember ignores it.
	ClientURL string `json:"client_url,omitempty"`
	// Learner reports a non-voting member.
	Learner bool `json:"learner"`
}

// MembersResponse is the answer to Members, AddMember and RemoveMember.
type MembersResponse struct {
	// Header is the answer's header.
	Header Header `json:"header"`
	// Members is the address book, sorted by ID.
	Members []Member `json:"members"`
}

// Progress is the leader's view of one follower's log.
type Progress struct {
	// Match is the highest index known replicated on the follower.
	Match uint64 `json:"match"`
	// Next is the next index the leader sends.
	Next uint64 `json:"next"`
	// State is the replication state ("probe", "replicate", "snapshot").
	State string `json:"state"`
	// Learner reports a non-voting follower.
	Learner bool `json:"learner,omitempty"`
}

// Status is the state of one node (GET /status).
type Status struct {
	// Header is the answer's header.
	Header Header `json:"header"`
	// ID is the node's id.
	ID uint64 `json:"id"`
	// Role is the node's raft role ("StateLeader", ...), as the server
	// names it.
	Role string `json:"role,omitempty"`
	// Term is the node's raft term.
	Term uint64 `json:"term"`
	// Leader is the id of the leader the node knows, 0 if none.
	Leader uint64 `json:"leader"`
	// Commit is the node's commit index.
	Commit uint64 `json:"commit"`
	// Applied is the node's applied index.
	Applied uint64 `json:"applied"`
	// Revision is the node's store revision.
	Revision int64 `json:"revision"`
	// Members is the node's address book.
	Members []Member `json:"members"`
	// Progress is, on the leader, each follower's progress by node id.
	Progress map[uint64]Progress `json:"progress,omitempty"`
	// Endpoint is the base URL that answered (not sent by the server).
	Endpoint string `json:"-"`
}

// kvBody is the JSON of a key in an answer.
type kvBody struct {
	Header         Header  `json:"header"`
	Key            string  `json:"key"`
	Value          *string `json:"value"`
	ValueBase64    []byte  `json:"value_base64"` // encoding/json decodes base64 into []byte
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
}

func (b *kvBody) response() KVResponse {
	kv := KeyValue{Key: b.Key, CreateRevision: b.CreateRevision, ModRevision: b.ModRevision, Version: b.Version}
	switch {
	case b.Value != nil:
		kv.Value = []byte(*b.Value)
	case b.ValueBase64 != nil:
		kv.Value = b.ValueBase64
	}
	return KVResponse{Header: b.Header, KV: kv}
}

// deleteBody is the JSON of the answer to a delete.
type deleteBody struct {
	Header  Header `json:"header"`
	Deleted int64  `json:"deleted"`
}

// writeBody holds the fields of every answer to a write: a kvBody, a
// deleteBody or an errorBody. The results of a batch are decoded into it
// in one pass over a JSON answer, or built from a binary one
// (msgpackResults), and decodeJSON hands each their fields.
type writeBody struct {
	kvBody
	Deleted   int64  `json:"deleted"`
	Error     string `json:"error"`
	LeaderURL string `json:"leader_url"`
}

// fill sets v, a *kvBody, *deleteBody or *errorBody, from b, and reports
// whether v was one of them.
func (b *writeBody) fill(v any) bool {
	switch v := v.(type) {
	case *kvBody:
		*v = b.kvBody
	case *deleteBody:
		*v = deleteBody{Header: b.Header, Deleted: b.Deleted}
	case *errorBody:
		*v = errorBody{Header: b.Header, Error: b.Error, ModRevision: b.ModRevision, LeaderURL: b.LeaderURL}
	default:
		return false
	}
	return true
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Header      Header `json:"header"`
	Error       string `json:"error"`
	ModRevision int64  `json:"mod_revision"`
	LeaderURL   string `json:"leader_url"`
}
