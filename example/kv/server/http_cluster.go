package server

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/store"
)

// memberBody is one member in the answers of /members and /status.
type memberBody struct {
	ID        uint64 `json:"id"`
	PeerAddr  string `json:"peer_addr"`
	ClientURL string `json:"client_url"`
	Learner   bool   `json:"learner"`
}

// progressBody is the leader's view of one follower in GET /status.
type progressBody struct {
	Match   uint64 `json:"match"`
	Next    uint64 `json:"next"`
	State   string `json:"state"` // "probe", "replicate" or "snapshot"
	Learner bool   `json:"learner,omitempty"`
}

// statusBody is the answer to GET /status.
type statusBody struct {
	Header   header                  `json:"header"`
	ID       uint64                  `json:"id"`
	Role     string                  `json:"role"`
	Term     uint64                  `json:"term"`
	Leader   uint64                  `json:"leader"`
	Commit   uint64                  `json:"commit"`
	Applied  uint64                  `json:"applied"`
	Revision int64                   `json:"revision"`
	Removed  bool                    `json:"removed,omitempty"`
	Members  []memberBody            `json:"members"`
	Progress map[string]progressBody `json:"progress,omitempty"`
	// WALSyncs and WALSyncMicros count the log's fsyncs since the node
	// started and the time they took, so that a load test can tell how
	// long the disk took under load.
	WALSyncs      int64 `json:"wal_syncs"`
	WALSyncMicros int64 `json:"wal_sync_us"`
}

// members returns the address book with each member's client URL.
func (s *Server) members() []memberBody {
	ms := s.store.Members()
	out := make([]memberBody, 0, len(ms))
	for _, m := range ms {
		b := memberBody{ID: m.ID, PeerAddr: m.PeerAddr, Learner: m.Learner}
		if m.ID == s.cfg.ID {
			b.ClientURL = s.url
		} else {
			b.ClientURL = s.tr.PeerHTTP(m.ID)
		}
		out = append(out, b)
	}
	return out
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	defer cancel()
	var st raft.Status
	var applied uint64
	var removed bool
	if err := s.call(ctx, func() { st, applied, removed = s.n.rn.Status(), s.n.applied, s.n.removed }); err != nil {
		// The loop is gone: answer from what it published last.
		ns := s.status()
		st.ID, st.Term, st.Lead, st.Commit, st.RaftState = s.cfg.ID, ns.term, ns.lead, ns.commit, ns.role
		applied, removed = ns.applied, ns.removed
	}
	rev := s.store.Revision()
	b := statusBody{
		Header:   header{MemberID: s.cfg.ID, RaftTerm: st.Term, Revision: rev},
		ID:       s.cfg.ID,
		Role:     st.RaftState.String(),
		Term:     st.Term,
		Leader:   st.Lead,
		Commit:   st.Commit,
		Applied:  applied,
		Revision: rev,
		Removed:  removed,
		Members:  s.members(),
	}
	syncs, took := s.wal.SyncStats()
	b.WALSyncs, b.WALSyncMicros = syncs, took.Microseconds()
	if len(st.Progress) > 0 {
		b.Progress = make(map[string]progressBody, len(st.Progress))
		for id, pr := range st.Progress {
			b.Progress[strconv.FormatUint(id, 10)] = progressBody{Match: pr.Match, Next: pr.Next, State: progressState(pr.State), Learner: pr.IsLearner}
		}
	}
	writeJSON(w, http.StatusOK, b)
}

// progressState names a replication state as the API does: "probe",
// "replicate" or "snapshot".
func progressState(st raft.ProgressState) string {
	switch st {
	case raft.StateProbe:
		return "probe"
	case raft.StateReplicate:
		return "replicate"
	case raft.StateSnapshot:
		return "snapshot"
	}
	return st.String()
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"header": s.header(-1), "members": s.members()})
}

// memberRequest is the body of POST /members.
type memberRequest struct {
	ID       uint64 `json:"id"`
	PeerAddr string `json:"peer_addr"`
	Learner  bool   `json:"learner"`
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) {
	var req memberRequest
	body, ok := s.decodeJSON(w, r, &req)
	if !ok {
		return
	}
	if req.ID == 0 || req.ID >= 1<<16 {
		s.badRequest(w, "id must be in 1..65535")
		return
	}
	cur, exists := s.member(req.ID)
	if req.PeerAddr == "" && exists {
		req.PeerAddr = cur.PeerAddr
	}
	if _, _, err := net.SplitHostPort(req.PeerAddr); err != nil {
		s.badRequest(w, "peer_addr %q: want host:port", req.PeerAddr)
		return
	}
	if exists && cur.Learner == req.Learner && cur.PeerAddr == req.PeerAddr {
		// Already so: a retried request.
		s.handleMembers(w, r)
		return
	}
	s.changeAndAnswer(w, r, body, changeRequest{member: store.Member{ID: req.ID, PeerAddr: req.PeerAddr, Learner: req.Learner}})
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, idText string) {
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil || id == 0 {
		s.badRequest(w, "member id %q: want a number > 0", idText)
		return
	}
	m, exists := s.member(id)
	if !exists {
		s.writeError(w, http.StatusNotFound, "unknown member", map[string]any{"id": id})
		return
	}
	s.changeAndAnswer(w, r, nil, changeRequest{remove: true, member: m})
}

// changeAndAnswer makes a membership change on the leader (forwarding r
// there from a follower) and answers with the members once it applied.
func (s *Server) changeAndAnswer(w http.ResponseWriter, r *http.Request, body []byte, ch changeRequest) {
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	defer cancel()
	if !s.leads() {
		s.forward(ctx, w, r, body)
		return
	}
	err = s.changeMembers(ctx, ch)
	switch {
	case errors.Is(err, errNotLeader):
		s.forward(ctx, w, r, body)
	case err != nil:
		s.writeFailure(w, err)
	default:
		s.handleMembers(w, r)
	}
}

func (s *Server) handleCut(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	peer, err := strconv.ParseUint(q.Get("peer"), 10, 64)
	if err != nil || peer == 0 {
		s.badRequest(w, "peer %q: want a node id > 0", q.Get("peer"))
		return
	}
	cut, err := strconv.ParseBool(q.Get("cut"))
	if err != nil {
		s.badRequest(w, "cut %q: want true or false", q.Get("cut"))
		return
	}
	s.tr.Cut(peer, cut)
	s.log.Warn("debug: link cut changed", "peer", peer, "cut", cut)
	writeJSON(w, http.StatusOK, map[string]any{"header": s.header(-1), "peer": peer, "cut": cut})
}
