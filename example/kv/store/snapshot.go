package store

import (
	"fmt"
	"slices"
	"strings"
)

// snapshotVersion is the first field of every snapshot. Restore refuses
// other versions.
const snapshotVersion = 1

// snapshotData is the encoded form of a store: a msgpack array of these
// fields in order, every collection sorted, so that equal stores encode to
// equal bytes.
type snapshotData struct {
	Version  uint8
	Applied  uint64
	Revision int64
	Clock    int64
	KVs      []KeyValue // sorted by Key
	Sessions []session  // sorted by ID
	Members  []Member   // sorted by ID
}

// Snapshot encodes the whole state: keys, revision, applied index, clock,
// sessions and members. Two stores that applied the same entries return
// identical bytes.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.RLock()
	sd := snapshotData{
		Version:  snapshotVersion,
		Applied:  s.applied,
		Revision: s.revision,
		Clock:    s.clock,
		KVs:      make([]KeyValue, 0, len(s.keys)),
		Sessions: make([]session, 0, len(s.sessions)),
		Members:  s.sortedMembers(),
	}
	for _, kv := range s.keys {
		sd.KVs = append(sd.KVs, kv)
	}
	for _, se := range s.sessions {
		sd.Sessions = append(sd.Sessions, *se)
	}
	s.mu.RUnlock()
	// Sorting and encoding need no lock: the values are copies, and the
	// byte slices they share with the store are never modified.
	slices.SortFunc(sd.KVs, func(a, b KeyValue) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(sd.Sessions, func(a, b session) int { return cmpUint64(a.ID, b.ID) })
	return encode(&sd, "snapshot")
}

// Restore replaces the whole state with the one encoded in data by
// Snapshot. On error, which wraps ErrDecode for bytes that are not a valid
// snapshot, the store is unchanged.
func (s *Store) Restore(data []byte) error {
	var sd snapshotData
	if err := decode(data, &sd, "snapshot"); err != nil {
		return err
	}
	if sd.Version != snapshotVersion {
		return fmt.Errorf("%w: snapshot version %d, want %d", ErrDecode, sd.Version, snapshotVersion)
	}
	keys := make(map[string]KeyValue, len(sd.KVs))
	for i, kv := range sd.KVs {
		if i > 0 && sd.KVs[i-1].Key >= kv.Key {
			return fmt.Errorf("%w: snapshot keys not strictly sorted at %q", ErrDecode, kv.Key)
		}
		kv.Value = normalize(kv.Value)
		keys[kv.Key] = kv
	}
	sessions := make(map[uint64]*session, len(sd.Sessions))
	nextExpiry := int64(noExpiry)
	for i := range sd.Sessions {
		se := &sd.Sessions[i]
		if i > 0 && sd.Sessions[i-1].ID >= se.ID {
			return fmt.Errorf("%w: snapshot sessions not strictly sorted at %d", ErrDecode, se.ID)
		}
		se.Last.KV.Value = normalize(se.Last.KV.Value)
		sessions[se.ID] = se
		nextExpiry = min(nextExpiry, se.deadline())
	}
	members := make(map[uint64]Member, len(sd.Members))
	for i, m := range sd.Members {
		if i > 0 && sd.Members[i-1].ID >= m.ID {
			return fmt.Errorf("%w: snapshot members not strictly sorted at %d", ErrDecode, m.ID)
		}
		members[m.ID] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.revision, s.applied, s.clock = keys, sd.Revision, sd.Applied, sd.Clock
	s.sessions, s.nextExpiry, s.members = sessions, nextExpiry, members
	return nil
}
