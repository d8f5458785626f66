package store

import (
	"slices"
)

// Member is a node's address book entry. The server replicates it in the
// Context of the raft ConfChange that adds the node (encoded by
// Member.Marshal) and records it with SetMember when that entry applies.
type Member struct {
	// ID is the raft node id.
	ID uint64
	// PeerAddr is the address the node's raft transport listens on.
	PeerAddr string
	// Learner reports whether the node is a non-voting member.
	Learner bool
}

// Marshal encodes m for a ConfChange's Context.
func (m Member) Marshal() ([]byte, error) { return encode(&m, "Member") }

// Unmarshal sets m to the Member encoded in b. On error, which wraps
// ErrDecode, m is the zero Member.
func (m *Member) Unmarshal(b []byte) error {
	*m = Member{}
	if err := decode(b, m, "Member"); err != nil {
		*m = Member{}
		return err
	}
	return nil
}

// SetMember adds m to the address book, or replaces the entry with m.ID.
func (s *Store) SetMember(m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[m.ID] = m
}

// RemoveMember removes the entry of id from the address book, if any.
func (s *Store) RemoveMember(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.members, id)
}

// Members returns the address book sorted by ID.
func (s *Store) Members() []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sortedMembers()
}

func (s *Store) sortedMembers() []Member {
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpUint64(a.ID, b.ID) })
	return out
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
