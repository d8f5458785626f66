package raft

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typesTestStringer pairs a value's String with the text it must print.
type typesTestStringer struct {
	got  fmt.Stringer
	want string
}

// TestTypesEnumStrings checks the name of every value of every exported enum,
// and the fallback form of a value no constant names.
func TestTypesEnumStrings(t *testing.T) {
	cases := []typesTestStringer{
		{EntryNormal, "EntryNormal"},
		{EntryConfChange, "EntryConfChange"},
		{EntryType(2), "EntryType(2)"},
		{EntryType(255), "EntryType(255)"},

		{StateFollower, "StateFollower"},
		{StateCandidate, "StateCandidate"},
		{StateLeader, "StateLeader"},
		{StatePreCandidate, "StatePreCandidate"},
		{StateType(4), "StateType(4)"},

		{ConfChangeAddNode, "ConfChangeAddNode"},
		{ConfChangeRemoveNode, "ConfChangeRemoveNode"},
		{ConfChangeAddLearnerNode, "ConfChangeAddLearnerNode"},
		{ConfChangeType(3), "ConfChangeType(3)"},

		{ConfChangeTransitionAuto, "ConfChangeTransitionAuto"},
		{ConfChangeTransitionJointImplicit, "ConfChangeTransitionJointImplicit"},
		{ConfChangeTransitionJointExplicit, "ConfChangeTransitionJointExplicit"},
		{ConfChangeTransition(3), "ConfChangeTransition(3)"},

		{StateProbe, "StateProbe"},
		{StateReplicate, "StateReplicate"},
		{StateSnapshot, "StateSnapshot"},
		{ProgressState(3), "ProgressState(3)"},

		{ReadOnlySafe, "ReadOnlySafe"},
		{ReadOnlyLeaseBased, "ReadOnlyLeaseBased"},
		{ReadOnlyOption(2), "ReadOnlyOption(2)"},

		{SnapshotFinish, "SnapshotFinish"},
		{SnapshotFailure, "SnapshotFailure"},
		{SnapshotStatus(2), "SnapshotStatus(2)"},

		{MessageType(19), "MessageType(19)"},
		{MessageType(200), "MessageType(200)"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.got.String(), "%#v", c.got)
	}
}

// typesTestMessageTypes lists every message type with its name and its
// classification: made by a node for itself (local), or an answer to another
// node's request (response).
var typesTestMessageTypes = []struct {
	typ             MessageType
	name            string
	local, response bool
}{
	{MsgHup, "MsgHup", true, false},
	{MsgBeat, "MsgBeat", true, false},
	{MsgProp, "MsgProp", false, false},
	{MsgApp, "MsgApp", false, false},
	{MsgAppResp, "MsgAppResp", false, true},
	{MsgVote, "MsgVote", false, false},
	{MsgVoteResp, "MsgVoteResp", false, true},
	{MsgSnap, "MsgSnap", false, false},
	{MsgHeartbeat, "MsgHeartbeat", false, false},
	{MsgHeartbeatResp, "MsgHeartbeatResp", false, true},
	// A report about a peer, stepped as if that peer sent it: local, and
	// treated like a response (it needs the peer's progress).
	{MsgUnreachable, "MsgUnreachable", true, true},
	{MsgSnapStatus, "MsgSnapStatus", true, false},
	{MsgCheckQuorum, "MsgCheckQuorum", true, false},
	{MsgTransferLeader, "MsgTransferLeader", false, false},
	{MsgTimeoutNow, "MsgTimeoutNow", false, false},
	{MsgReadIndex, "MsgReadIndex", false, false},
	{MsgReadIndexResp, "MsgReadIndexResp", false, true},
	{MsgPreVote, "MsgPreVote", false, false},
	{MsgPreVoteResp, "MsgPreVoteResp", false, true},
}

func TestTypesMessageTypeNamesAndClasses(t *testing.T) {
	// The table is complete: it names every type in order, and the next
	// value is unnamed.
	for i, c := range typesTestMessageTypes {
		require.Equal(t, MessageType(i), c.typ, "table out of order at %d", i)
		assert.Equal(t, c.name, c.typ.String())
		assert.Equal(t, c.local, isLocalMsg(c.typ), "isLocalMsg(%s)", c.typ)
		assert.Equal(t, c.response, isResponseMsg(c.typ), "isResponseMsg(%s)", c.typ)
	}
	next := MessageType(len(typesTestMessageTypes))
	assert.Equal(t, fmt.Sprintf("MessageType(%d)", next), next.String())
	for v := int(next); v < 256; v++ {
		assert.False(t, isLocalMsg(MessageType(v)), "isLocalMsg(%d)", v)
		assert.False(t, isResponseMsg(MessageType(v)), "isResponseMsg(%d)", v)
	}
}

func TestTypesIsEmptyHardState(t *testing.T) {
	assert.True(t, IsEmptyHardState(HardState{}))
	assert.False(t, IsEmptyHardState(HardState{Term: 1}))
	assert.False(t, IsEmptyHardState(HardState{Vote: 1}))
	assert.False(t, IsEmptyHardState(HardState{Commit: 1}))
}

func TestTypesIsEmptySnap(t *testing.T) {
	assert.True(t, IsEmptySnap(Snapshot{}))
	// Only the index says whether a snapshot is there: data or a
	// configuration without an index is no snapshot.
	assert.True(t, IsEmptySnap(Snapshot{Data: []byte("x"), Metadata: SnapshotMetadata{Term: 1, ConfState: ConfState{Voters: []uint64{1}}}}))
	assert.False(t, IsEmptySnap(Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}}))
}

func TestTypesStatusString(t *testing.T) {
	s := Status{
		BasicStatus: BasicStatus{
			ID:        0x1a,
			HardState: HardState{Term: 2, Vote: 0x1a, Commit: 4},
			SoftState: SoftState{Lead: 0x1a, RaftState: StateLeader},
			Applied:   3,
		},
		Config: ConfState{Voters: []uint64{0x1a, 2}},
	}
	assert.Equal(t, "id=1a term=2 vote=1a commit=4 applied=3 lead=1a state=StateLeader "+
		"config={Voters:[26 2] Learners:[] VotersOutgoing:[] LearnersNext:[] AutoLeave:false}", s.String())
}

// typesTestCounter counts how often it is formatted.
type typesTestCounter struct{ n *int }

func (c typesTestCounter) String() string {
	*c.n++
	return "counted"
}

func TestTypesSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	l := NewSlogLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), 0x1a)
	formatted := 0
	l.Debugf("debug %v", typesTestCounter{&formatted})
	l.Infof("info %d", 2)
	l.Warningf("warn %d", 3)
	l.Errorf("error %d", 4)
	out := buf.String()
	assert.NotContains(t, out, "debug")
	assert.Zero(t, formatted, "a disabled line must not be formatted")
	assert.Contains(t, out, `level=INFO msg="info 2" raft=1a`)
	assert.Contains(t, out, `level=WARN msg="warn 3" raft=1a`)
	assert.Contains(t, out, `level=ERROR msg="error 4" raft=1a`)

	// The default logger goes through slog's default, at Info level: a
	// debug line is dropped.
	defaultLogger(5).Debugf("debug %v", typesTestCounter{&formatted})
	assert.Zero(t, formatted)

	for _, f := range []func(string, ...any){DiscardLogger.Debugf, DiscardLogger.Infof, DiscardLogger.Warningf, DiscardLogger.Errorf} {
		f("dropped %v", typesTestCounter{&formatted})
	}
	assert.Zero(t, formatted)
}
