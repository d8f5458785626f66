// Package bugs holds switches that make the raft core deliberately wrong, so
// that the simulator's tests can prove they catch each bug. In a normal build
// every switch is a false constant and the compiler removes the faulty code;
// only a build with the tag keelraft_bugs can turn them on.
package bugs
