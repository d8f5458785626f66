package raft

import "fmt"

// None is the zero node ID: "no node". A HardState.Vote of None means the node
// has not voted in its current term; a SoftState.Lead of None means no leader
// is known.
const None uint64 = 0

// EntryType says how the state machine should read an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries application data (or nothing, for the empty entry a
	// new leader appends to commit entries of earlier terms, §5.4.2).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange.
	EntryConfChange
)

var entryTypeNames = [...]string{"EntryNormal", "EntryConfChange"}

func (t EntryType) String() string { return enumName(entryTypeNames[:], uint8(t), "EntryType") }

// Entry is one record of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is the part of a node's state that must reach stable storage
// before the node acts on it (Raft paper, Figure 2: currentTerm, votedFor),
// plus the commit index, so that a restarted node need not relearn it.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmptyHardState reports whether st is the zero HardState.
func IsEmptyHardState(st HardState) bool { return st == HardState{} }

// StateType is the role a node plays.
type StateType uint8

const (
	// StateFollower answers leaders and candidates (§5.2).
	StateFollower StateType = iota
	// StateCandidate asks for votes in a new term (§5.2).
	StateCandidate
	// StateLeader replicates its log to the others (§5.3).
	StateLeader
	// StatePreCandidate asks whether it could win before raising its term
	// (Raft thesis §9.6).
	StatePreCandidate
)

var stateTypeNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

func (t StateType) String() string { return enumName(stateTypeNames[:], uint8(t), "StateType") }

// SoftState is the volatile state a host may want to observe: who leads and
// which role this node plays. It need not be persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// ConfState is the membership of the cluster. Outside a joint configuration
// only Voters and Learners are set. Inside one (Raft paper §6), Voters is the
// incoming configuration, VotersOutgoing the outgoing one, and LearnersNext
// holds voters that become learners when the joint configuration is left.
type ConfState struct {
	Voters         []uint64
	Learners       []uint64
	VotersOutgoing []uint64
	LearnersNext   []uint64
	// AutoLeave says the leader leaves the joint configuration by itself once
	// it has been applied.
	AutoLeave bool
}

// SnapshotMetadata says which prefix of the log a snapshot replaces.
type SnapshotMetadata struct {
	ConfState ConfState
	Index     uint64
	Term      uint64
}

// Snapshot is the state machine's state as of Metadata.Index, with the
// membership at that index.
type Snapshot struct {
	Metadata SnapshotMetadata
	Data     []byte
}

// IsEmptySnap reports whether sp holds no snapshot.
func IsEmptySnap(sp Snapshot) bool { return sp.Metadata.Index == 0 }

// MessageType names what a Message asks or answers.
type MessageType uint8

// The message types. Local messages (MsgHup, MsgBeat, MsgUnreachable,
// MsgSnapStatus, MsgCheckQuorum) are made by a node for itself and refused by
// RawNode.Step with ErrStepLocalMsg.
const (
	MsgHup            MessageType = iota // local: start an election
	MsgBeat                              // local: leader sends heartbeats
	MsgProp                              // propose entries
	MsgApp                               // append entries (§5.3)
	MsgAppResp                           // answer to MsgApp or MsgSnap
	MsgVote                              // request a vote (§5.2)
	MsgVoteResp                          // answer to MsgVote
	MsgSnap                              // install a snapshot (§7)
	MsgHeartbeat                         // leader is alive; carries commit
	MsgHeartbeatResp                     // answer to MsgHeartbeat
	MsgUnreachable                       // local: a peer could not be reached
	MsgSnapStatus                        // local: a snapshot send ended
	MsgCheckQuorum                       // local: leader checks it heard from a quorum
	MsgTransferLeader                    // ask the leader to hand over to From
	MsgTimeoutNow                        // transferee: campaign now
	MsgReadIndex                         // ask for a read index (§8)
	MsgReadIndexResp                     // answer to MsgReadIndex
	MsgPreVote                           // ask whether a vote would be granted (thesis §9.6)
	MsgPreVoteResp                       // answer to MsgPreVote
)

var messageTypeNames = [...]string{
	"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote",
	"MsgVoteResp", "MsgSnap", "MsgHeartbeat", "MsgHeartbeatResp",
	"MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum", "MsgTransferLeader",
	"MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp", "MsgPreVote",
	"MsgPreVoteResp",
}

func (t MessageType) String() string { return enumName(messageTypeNames[:], uint8(t), "MessageType") }

// isLocalMsg reports whether t is made by a node for itself only.
func isLocalMsg(t MessageType) bool {
	switch t {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum:
		return true
	}
	return false
}

// isResponseMsg reports whether t answers a request of another node.
func isResponseMsg(t MessageType) bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgHeartbeatResp, MsgUnreachable, MsgPreVoteResp, MsgReadIndexResp:
		return true
	}
	return false
}

// Message is the unit of communication between nodes, and between a host and
// its node. The meaning of the fields depends on Type:
//
//   - MsgApp: Index and LogTerm identify the entry just before Entries (the
//     consistency check of §5.3); Commit is the leader's commit index.
//   - MsgAppResp: Index is the last index the follower now holds from the
//     leader; on Reject, Index is the rejected MsgApp's Index and RejectHint
//     and LogTerm point at where the leader should probe next.
//   - MsgVote, MsgPreVote: Index and LogTerm are the candidate's last entry
//     (§5.4.1).
//   - MsgVoteResp, MsgPreVoteResp: Commit is the voter's commit index and
//     LogTerm the term of its entry there, so that a candidate that missed
//     a commit learns it.
//   - MsgHeartbeat: Commit is min(follower's match, leader's commit); Index
//     is the leader's newest read-confirmation round (0 for none), which
//     MsgHeartbeatResp echoes.
//   - MsgReadIndex, MsgReadIndexResp: Context is the caller's request
//     context; in the response, Index is the read index.
//   - MsgSnap: Snapshot is set.
type Message struct {
	Type       MessageType
	To         uint64
	From       uint64
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Entries    []Entry
	Commit     uint64
	Snapshot   *Snapshot
	Reject     bool
	RejectHint uint64
	Context    []byte
}

// ReadState answers a ReadIndex request: once the node has applied up to
// Index, a read of the state machine reflects every write acknowledged before
// the request was made (§8). RequestCtx is the caller's context, returned as
// given.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// Peer names a member of the initial configuration given to Bootstrap or
// StartNode. Context is stored in the bootstrap ConfChange entry.
type Peer struct {
	ID      uint64
	Context []byte
}

// ConfChangeType is what a ConfChangeSingle does to one node.
type ConfChangeType uint8

const (
	// ConfChangeAddNode makes the node a voter.
	ConfChangeAddNode ConfChangeType = iota
	// ConfChangeRemoveNode removes the node from the configuration.
	ConfChangeRemoveNode
	// ConfChangeAddLearnerNode makes the node a learner (demoting it if it
	// was a voter).
	ConfChangeAddLearnerNode
)

var confChangeTypeNames = [...]string{"ConfChangeAddNode", "ConfChangeRemoveNode", "ConfChangeAddLearnerNode"}

func (t ConfChangeType) String() string {
	return enumName(confChangeTypeNames[:], uint8(t), "ConfChangeType")
}

// ConfChangeTransition says how a ConfChange moves between configurations.
type ConfChangeTransition uint8

const (
	// ConfChangeTransitionAuto uses the simple protocol when at most one voter
	// changes, and otherwise a joint configuration that the leader leaves by
	// itself.
	ConfChangeTransitionAuto ConfChangeTransition = iota
	// ConfChangeTransitionJointImplicit always enters a joint configuration
	// and leaves it automatically.
	ConfChangeTransitionJointImplicit
	// ConfChangeTransitionJointExplicit always enters a joint configuration
	// and stays there until the host proposes an empty ConfChange.
	ConfChangeTransitionJointExplicit
)

var confChangeTransitionNames = [...]string{
	"ConfChangeTransitionAuto", "ConfChangeTransitionJointImplicit", "ConfChangeTransitionJointExplicit",
}

func (t ConfChangeTransition) String() string {
	return enumName(confChangeTransitionNames[:], uint8(t), "ConfChangeTransition")
}

// ConfChangeSingle changes the role of one node.
type ConfChangeSingle struct {
	Type   ConfChangeType
	NodeID uint64
}

// ConfChange is a membership change. An empty Changes list leaves a joint
// configuration.
type ConfChange struct {
	Transition ConfChangeTransition
	Changes    []ConfChangeSingle
	Context    []byte
}

func enumName(names []string, v uint8, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}
