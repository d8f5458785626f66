package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// maxForwardedResponse bounds the response of the leader a follower
// relays: above any answer the leader gives, so that no answer is cut.
// The largest echoes the values of the largest request (a batch), and a
// value's JSON is at most six times its size (\u0001 for a control byte).
func (s *Server) maxForwardedResponse() int64 {
	return 6*int64(s.batchBodyLimit()) + 1<<20
}

// forward sends r, with body, to the leader and relays its answer. A
// request that was forwarded already, or with no leader to go to, gets
// 503 with what the node knows of the leader.
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) {
	st := s.status()
	if r.Header.Get(forwardedHeader) != "" || st.lead == 0 || st.lead == s.cfg.ID || st.removed {
		s.writeFailure(w, errNotLeader)
		return
	}
	url := s.tr.PeerHTTP(st.lead)
	if url == "" {
		s.writeError(w, http.StatusServiceUnavailable, "leader's address not known yet", map[string]any{"leader": st.lead})
		return
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, url+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		s.writeFailure(w, errNotLeader)
		return
	}
	req.Header.Set(forwardedHeader, "1")
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.forwardClient.Do(req)
	if err != nil {
		info := map[string]any{"leader": st.lead, "leader_url": url}
		var op *net.OpError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			s.writeError(w, http.StatusGatewayTimeout, "timeout forwarding to the leader; the outcome is unknown", info)
		case errors.As(err, &op) && op.Op == "dial":
			// The request never left: the client may go to the leader.
			s.writeError(w, http.StatusServiceUnavailable, "cannot reach the leader: "+err.Error(), info)
		default:
			// The request may have reached the leader.
			s.writeError(w, http.StatusGatewayTimeout, "forwarding to the leader failed; the outcome is unknown: "+err.Error(), info)
		}
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	if a := resp.Header.Get("Allow"); a != "" {
		w.Header().Set("Allow", a)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, s.maxForwardedResponse()))
}
