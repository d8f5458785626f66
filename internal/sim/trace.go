package sim

import (
	"fmt"
	"strings"

	"github.com/keelraft/raft"
)

// The trace's arguments render lazily, only when the trace is kept.
type (
	msgText     struct{ m *raft.Message }
	readyText   struct{ rd *raft.Ready }
	entriesText []raft.Entry
)

func (t msgText) String() string     { return describe(*t.m) }
func (t readyText) String() string   { return describeReady(*t.rd) }
func (t entriesText) String() string { return describeEntries(t) }

// describe renders m for the trace.
func describe(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d->%d t%d", m.Type, m.From, m.To, m.Term)
	switch m.Type {
	case raft.MsgApp:
		fmt.Fprintf(&b, " prev %d@%d %s commit %d", m.Index, m.LogTerm, describeEntries(m.Entries), m.Commit)
	case raft.MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " reject %d hint %d@%d", m.Index, m.RejectHint, m.LogTerm)
		} else {
			fmt.Fprintf(&b, " index %d", m.Index)
		}
	case raft.MsgVote, raft.MsgPreVote:
		fmt.Fprintf(&b, " last %d@%d", m.Index, m.LogTerm)
		if len(m.Context) > 0 {
			b.WriteString(" (transfer)")
		}
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" rejected")
		} else {
			b.WriteString(" granted")
		}
	case raft.MsgSnap:
		if m.Snapshot != nil {
			fmt.Fprintf(&b, " snapshot %d@%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
		}
	case raft.MsgHeartbeat:
		fmt.Fprintf(&b, " commit %d round %d", m.Commit, m.Index)
	case raft.MsgHeartbeatResp:
		fmt.Fprintf(&b, " round %d", m.Index)
	case raft.MsgProp:
		fmt.Fprintf(&b, " %s", describeEntries(m.Entries))
	case raft.MsgReadIndex:
		fmt.Fprintf(&b, " %s", m.Context)
	case raft.MsgReadIndexResp:
		fmt.Fprintf(&b, " %s index %d", m.Context, m.Index)
	}
	return b.String()
}

// describeEntries renders entries as index@term, with client values.
func describeEntries(ents []raft.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range ents {
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(ents) > 8 && i == 3 {
			fmt.Fprintf(&b, "... (%d more)", len(ents)-6)
			ents = ents[len(ents)-3:]
			for _, e := range ents {
				b.WriteByte(' ')
				b.WriteString(describeEntry(e))
			}
			break
		}
		b.WriteString(describeEntry(e))
	}
	b.WriteByte(']')
	return b.String()
}

func describeEntry(e raft.Entry) string {
	switch {
	case e.Type == raft.EntryConfChange:
		return fmt.Sprintf("%d@%d:conf", e.Index, e.Term)
	case len(e.Data) == 0:
		return fmt.Sprintf("%d@%d", e.Index, e.Term)
	}
	return fmt.Sprintf("%d@%d:%s", e.Index, e.Term, e.Data)
}

// describeReady renders what a Ready holds, messages aside (each is traced
// as it is sent).
func describeReady(rd raft.Ready) string {
	var parts []string
	if rd.SoftState != nil {
		parts = append(parts, fmt.Sprintf("%s lead %d", rd.RaftState, rd.Lead))
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		parts = append(parts, fmt.Sprintf("hs t%d v%d c%d", rd.Term, rd.Vote, rd.Commit))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		parts = append(parts, fmt.Sprintf("snapshot %d@%d", rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term))
	}
	if len(rd.Entries) > 0 {
		parts = append(parts, "entries "+describeEntries(rd.Entries))
	}
	if len(rd.CommittedEntries) > 0 {
		parts = append(parts, "committed "+describeEntries(rd.CommittedEntries))
	}
	for _, rs := range rd.ReadStates {
		parts = append(parts, fmt.Sprintf("read %s index %d", rs.RequestCtx, rs.Index))
	}
	if len(rd.Messages) > 0 {
		parts = append(parts, fmt.Sprintf("%d messages", len(rd.Messages)))
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, "; ")
}
