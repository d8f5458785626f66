package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelraft/raft"
)

// Limits of the HTTP API besides MaxValueSize.
const (
	// maxKeySize is the longest key, in bytes.
	maxKeySize = 4096
	// maxJSONBody is the largest JSON request body (sessions, members).
	maxJSONBody = 64 << 10
	// maxTimeout is the longest ?timeout_ms= a request may ask for.
	maxTimeout = 5 * time.Minute
	// forwardedHeader marks a request forwarded by a follower; it is never
	// forwarded again.
	forwardedHeader = "X-Kv-Forwarded"
)

// header is the "header" object of every JSON response.
type header struct {
	MemberID uint64 `json:"member_id"`
	RaftTerm uint64 `json:"raft_term"`
	Revision int64  `json:"revision"`
}

// header returns the response header with revision rev, or the store's
// current revision if rev < 0.
func (s *Server) header(rev int64) header {
	if rev < 0 {
		rev = s.store.Revision()
	}
	return header{MemberID: s.cfg.ID, RaftTerm: s.status().term, Revision: rev}
}

// routes returns the handler of the HTTP API. It routes by hand rather than
// with http.ServeMux so that every answer, 404 and 405 included, is JSON,
// and keys may hold any byte ServeMux would clean or redirect.
func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		switch {
		case strings.HasPrefix(path, "/kv/"):
			key := strings.TrimPrefix(path, "/kv/")
			switch r.Method {
			case http.MethodGet:
				s.handleGet(w, r, key)
			case http.MethodPut:
				s.handlePut(w, r, key)
			case http.MethodDelete:
				s.handleDelete(w, r, key)
			default:
				s.methodNotAllowed(w, "GET, PUT, DELETE")
			}
		case path == "/batch":
			if r.Method != http.MethodPost {
				s.methodNotAllowed(w, "POST")
				return
			}
			s.handleBatch(w, r)
		case path == "/sessions":
			if r.Method != http.MethodPost {
				s.methodNotAllowed(w, "POST")
				return
			}
			s.handleOpenSession(w, r)
		case strings.HasPrefix(path, "/sessions/"):
			if r.Method != http.MethodDelete {
				s.methodNotAllowed(w, "DELETE")
				return
			}
			s.handleCloseSession(w, r, strings.TrimPrefix(path, "/sessions/"))
		case path == "/status":
			if r.Method != http.MethodGet {
				s.methodNotAllowed(w, "GET")
				return
			}
			s.handleStatus(w, r)
		case path == "/members":
			switch r.Method {
			case http.MethodGet:
				s.handleMembers(w, r)
			case http.MethodPost:
				s.handleAddMember(w, r)
			default:
				s.methodNotAllowed(w, "GET, POST")
			}
		case strings.HasPrefix(path, "/members/"):
			if r.Method != http.MethodDelete {
				s.methodNotAllowed(w, "DELETE")
				return
			}
			s.handleRemoveMember(w, r, strings.TrimPrefix(path, "/members/"))
		case path == "/debug/cut" && s.cfg.DebugFaults:
			if r.Method != http.MethodPost {
				s.methodNotAllowed(w, "POST")
				return
			}
			s.handleCut(w, r)
		default:
			s.writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+path, nil)
		}
	})
}

// writeJSON writes v as the JSON response with status code. A map is
// written with "header" first, then its other keys in order, as the
// structs of the API are.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if m, ok := v.(map[string]any); ok {
		_, _ = w.Write(marshalHeaderFirst(m))
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// marshalHeaderFirst encodes m as a JSON object whose first key is
// "header", followed by a newline.
func marshalHeaderFirst(m map[string]any) []byte {
	keys := slices.Sorted(maps.Keys(m))
	if i := slices.Index(keys, "header"); i > 0 {
		copy(keys[1:i+1], keys[:i])
		keys[0] = "header"
	}
	buf := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m[k])
		if err != nil {
			vb, _ = json.Marshal(err.Error())
		}
		buf = append(append(append(buf, kb...), ':'), vb...)
	}
	return append(buf, '}', '\n')
}

// writeError writes {"header", "error", extra...} with status code.
func (s *Server) writeError(w http.ResponseWriter, code int, msg string, extra map[string]any) {
	body := map[string]any{"header": s.header(-1), "error": msg}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, code, body)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, http.StatusMethodNotAllowed, "method not allowed; allowed: "+allow, nil)
}

// badRequest answers 400.
func (s *Server) badRequest(w http.ResponseWriter, format string, args ...any) {
	s.writeError(w, http.StatusBadRequest, fmt.Sprintf(format, args...), nil)
}

// leaderInfo is what a 503 tells the client about the leader, so that it
// can go there itself.
func (s *Server) leaderInfo() map[string]any {
	lead := s.status().lead
	info := map[string]any{"leader": lead}
	if lead == s.cfg.ID {
		info["leader_url"] = s.url
	} else if lead != 0 {
		if u := s.tr.PeerHTTP(lead); u != "" {
			info["leader_url"] = u
		}
	}
	return info
}

// writeFailure answers a request that failed with err, with the status
// code that tells the client what it may do next:
//
//	503 nothing was done; retry, maybe on the leader (the body names it)
//	504 the outcome is unknown: a timeout, or the leader changed while
//	    the write waited (it may still commit)
func (s *Server) writeFailure(w http.ResponseWriter, err error) {
	a := s.failureAnswer(err)
	var info map[string]any
	if a.leader {
		info = s.leaderInfo()
	}
	s.writeError(w, a.code, a.msg, info)
}

// requestContext returns the context of r with its timeout: ?timeout_ms=,
// or DefaultRequestTimeout.
func requestContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	d := DefaultRequestTimeout
	if v := r.URL.Query().Get("timeout_ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || time.Duration(ms)*time.Millisecond > maxTimeout {
			return nil, nil, fmt.Errorf("timeout_ms %q: want a number of milliseconds in 1..%d", v, maxTimeout.Milliseconds())
		}
		d = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

// readBody reads r's body, at most limit bytes. An error is answered
// already.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes", limit), nil)
		} else {
			s.badRequest(w, "read body: %v", err)
		}
		return nil, false
	}
	return body, true
}

// decodeJSON decodes a JSON request body of at most maxJSONBody bytes into
// v. An empty body leaves v as it is. An error is answered already.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) ([]byte, bool) {
	body, ok := s.readBody(w, r, maxJSONBody)
	if !ok {
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return body, true
	}
	if err := json.Unmarshal(body, v); err != nil {
		s.badRequest(w, "malformed JSON body: %v", err)
		return nil, false
	}
	return body, true
}

// leads reports whether the node led when it last published its state.
func (s *Server) leads() bool {
	st := s.status()
	return st.role == raft.StateLeader && !st.removed
}
