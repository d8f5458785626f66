// Package quorum holds the quorum arithmetic of Raft: which log index a
// majority of voters has acknowledged (the leader's commit rule, Raft paper
// §5.3 and §5.4) and whether an election has been won, lost or is still open
// (§5.2). Both work on a simple majority configuration and on the joint
// configuration used while membership changes (§6), where a decision needs
// separate majorities of the old and the new voter sets.
//
// The package knows nothing about terms, logs or messages: callers pass in
// the acknowledged indexes and the votes they have seen, and get back a
// number or a verdict.
package quorum
