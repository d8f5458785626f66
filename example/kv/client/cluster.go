package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Members returns the address book of the node the client talks to (the
// leader when known).
func (c *Client) Members(ctx context.Context) (MembersResponse, error) {
	var out MembersResponse
	err := c.read(ctx, "members", &request{method: http.MethodGet, path: "/members"}, func(r reply) error {
		if r.code != http.StatusOK {
			return c.statusError(r, nil)
		}
		return decodeJSON(r, &out)
	})
	return out, err
}

// Status returns the status of the node the client talks to: the leader
// when known, else the first endpoint that answers.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	err := c.read(ctx, "status", &request{method: http.MethodGet, path: "/status"}, func(r reply) error {
		if r.code != http.StatusOK {
			return c.statusError(r, nil)
		}
		out.Endpoint = r.endpoint
		return decodeJSON(r, &out)
	})
	return out, err
}

// AddMember adds m as a voter or a learner (m.ClientURL is ignored); adding
// an existing learner with Learner false promotes it. It returns once the
// change is applied, with the new address book. Errors: ErrInvalidMemberChange,
// ErrChangePending. Membership changes have no session: if an attempt's
// outcome was unknown and a retry is refused, the error wraps both
// ErrOutcomeUnknown and the refusal, since the first attempt may be what
// the retry collided with.
func (c *Client) AddMember(ctx context.Context, m Member) (MembersResponse, error) {
	body, err := json.Marshal(struct {
		ID       uint64 `json:"id"`
		PeerAddr string `json:"peer_addr"`
		Learner  bool   `json:"learner"`
	}{m.ID, m.PeerAddr, m.Learner})
	if err != nil {
		return MembersResponse{}, err
	}
	return c.changeMembers(ctx, fmt.Sprintf("add member %d", m.ID),
		&request{method: http.MethodPost, path: "/members", body: body}, ErrInvalidMemberChange)
}

// RemoveMember removes the member id and returns the new address book once
// the change is applied. Errors: ErrMemberNotFound, ErrChangePending, and
// as AddMember.
func (c *Client) RemoveMember(ctx context.Context, id uint64) (MembersResponse, error) {
	return c.changeMembers(ctx, fmt.Sprintf("remove member %d", id),
		&request{method: http.MethodDelete, path: "/members/" + strconv.FormatUint(id, 10)}, ErrMemberNotFound)
}

// changeMembers runs a membership change; refused is the sentinel of its
// 400 or 404 answer.
func (c *Client) changeMembers(ctx context.Context, what string, req *request, refused error) (MembersResponse, error) {
	var out MembersResponse
	unknown := false
	err, gaveUp := c.retry(ctx, what, func(ctx context.Context, endpoint string) (step, error) {
		r, err := c.send(ctx, endpoint, req)
		wasUnknown := unknown
		unknown = unknown || uncertain(r, err)
		if st, err, ok := c.transient(ctx, endpoint, r, err); ok {
			return st, err
		}
		var final error
		switch r.code {
		case http.StatusOK:
			return done, decodeJSON(r, &out)
		case http.StatusBadRequest, http.StatusNotFound:
			final = fmt.Errorf("kv: %s: %w: %w", what, refused, c.statusError(r, nil))
		case http.StatusConflict:
			final = fmt.Errorf("kv: %s: %w: %w", what, ErrChangePending, c.statusError(r, nil))
		default:
			final = c.statusError(r, nil)
		}
		if wasUnknown {
			final = fmt.Errorf("%w: %w", ErrOutcomeUnknown, final)
		}
		return done, final
	})
	if gaveUp && unknown {
		err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	if err != nil {
		return MembersResponse{}, err
	}
	return out, nil
}
