// Package wal is a durable raft.Storage: a write-ahead log in segment files
// plus snapshot files, in one directory. The example KV service keeps its
// Raft log here, and any other host can too.
//
// # Use
//
// Open the directory, hand the Storage to raft.Config, and call Save once
// per Ready before acting on it:
//
//	st, err := wal.Open(dir, wal.Options{})
//	...
//	rn, err := raft.NewRawNode(&raft.Config{ID: id, Storage: st, ...})
//	...
//	rd := rn.Ready()
//	// send rd.Messages
//	if err := st.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
//		log.Fatal(err) // the log is unusable: stop the node
//	}
//	// apply rd.Snapshot and rd.CommittedEntries, then:
//	rn.Advance(rd)
//
// Every so many applied entries, the host calls CreateSnapshot with the state
// machine's state; the log then drops the entries the snapshot covers.
//
// # Durability
//
// What is acknowledged is persisted. Save with sync set returns only after
// its writes, and every write before them, are on disk (fsync, or on Linux
// fdatasync where the file's size did not change: see Files). Save without
// sync (a Ready whose MustSync is false: only the commit index moved) leaves
// its writes to the operating system; the next sync covers them.
// CreateSnapshot and SaveSnapshot always sync.
//
// Each Save is atomic: after a crash, Open recovers the state after some
// prefix of the Saves made, and that prefix includes every Save that
// returned with sync set. A Ready's entries, HardState and snapshot come
// back all or not at all.
//
// The storage keeps the whole log after the latest snapshot in memory, as
// raft.MemoryStorage does, and reads are served from there; the files are
// only read by Open. After a failed write or fsync the storage refuses every
// further write, because what reached the disk is then unknown: the host
// must stop and reopen.
//
// One process at a time may open a directory; nothing enforces it.
//
// # Files
//
// The directory holds segments, named by sequence number and the index the
// log had reached when the segment began (both in hex), and snapshot files,
// named by index and term:
//
//	0000000000000001-0000000000000001.wal   segment 1; the log began at index 1
//	0000000000000002-00000000000003e9.wal   segment 2; entries 1..1000 came before it
//	00000000000003e8-0000000000000002.snap  snapshot at index 1000, term 2
//	next.wal.tmp                            the next segment, being prepared
//
// Writes go to the last segment. Once it holds SegmentSize bytes the next
// write starts a new one, after an fsync of the old, so that only the last
// segment can ever end in a torn write.
//
// On Linux a segment is SegmentSize bytes of zeros before any record goes
// into it: while the log writes to one segment, a goroutine prepares the
// next as next.wal.tmp, preallocated (fallocate), filled with zeros and
// synced, and the roll renames it to the new segment's name (synced with
// the directory). The appends that follow change the file's data only,
// and are synced with fdatasync, which spares the file system a journal
// commit: of the file's size and times, and, since every block was written
// once already, of the conversion of preallocated blocks that ext4 makes on
// their first write. A segment whose file was not ready at the roll, or
// whose preparation failed (logged), is created then and only
// preallocated, as is the first segment of a new log; its syncs are
// fdatasyncs too, but each commits the journal. Such a segment, and the
// last one at Open, gives way to the prepared file as soon as that is
// ready, without waiting to be full. The roll never waits for the
// preparation. Close stops it and removes the file.
//
// The last segment therefore ends in zeros, and writes go after its last
// record, not at the end of the file. Before the log moves on to the next
// segment, the old one is cut to its records, in the same fsync as them,
// so no other segment ends in zeros. Elsewhere, or where the file system
// cannot preallocate, nothing is prepared: segments grow with each append
// and every sync is an fsync.
//
// # Records
//
// Segments and snapshot files are made of records, framed as
//
//	length   4 bytes, little-endian: the size of the payload
//	checksum 4 bytes, little-endian: CRC-32C (Castagnoli) of type and payload
//	type     1 byte
//	payload  length bytes
//
// A snapshot file is one record of type 2 whose payload is the snapshot in
// the library's msgpack encoding (raft.Snapshot.Marshal): metadata and data.
//
// A segment holds records of type 1, batches. A batch is everything one Save
// wrote, so that a checksum covers the whole of it and a crash keeps it or
// loses it entire. Its payload is a sequence of items, each a kind byte, the
// length of the body as a uvarint, and the body in msgpack:
//
//	1 entry       raft.Entry: this entry replaces every entry at or after its index
//	2 hard state  raft.HardState: the newest one wins
//	3 snapshot    raft.Snapshot without data: the snapshot file for this
//	              index and term is on disk; the log after it is unchanged
//	4 install     raft.Snapshot without data: as 3, and the log is replaced
//	              by the snapshot (a follower installs the leader's)
//
// The first batch of every segment restates the snapshot and hard state in
// force when it began, so that the older segments can be deleted once a
// snapshot covers their entries.
//
// A snapshot file counts only once a batch names it: it is written first
// (to a temporary file, fsync, rename, fsync of the directory), then the
// batch. A file that no batch names was left by a crash in between; Open
// deletes it. Open deletes temporary files too (*.snap.tmp, *.wal.tmp),
// unread: a snapshot file cut short, a segment being prepared.
//
// # Recovery
//
// Open reads every segment. Zeros from where a record would begin to the
// end of the file are the end of the segment, its unused preallocated
// space. Zeros followed by anything else are not: a write whose first page
// was lost reads so.
//
// A record that is cut short or fails its checksum is a torn write if it
// sits at the end of the last segment with no intact record anywhere after
// it: Open cuts it off, logs a line, and goes on. The file is cut there and
// preallocated again, so that past the log's end there are only zeros and
// what was written since Open: no byte of the torn write can come to follow
// a later record. Anywhere else a bad record is damage, and Open fails with
// an error that wraps ErrCorrupt and names the file and byte offset. Open
// refuses rather than guesses in two rare cases where nothing acknowledged
// is at stake: a power cut that tore one of several unsynced Saves but kept
// a later one, and a torn batch whose entry data itself holds an intact
// record of this format. A process crash alone (kill -9) never leaves
// either: the kernel still writes out everything the process wrote.
//
// Zeros at the end of a segment other than the last mean that the disk lost
// the cut synced when the next segment began. The records before them were
// synced then too, so Open takes the zeros for the segment's end, cuts them
// off, and logs a line.
//
// Open then loads the newest snapshot file that a batch names and replays
// the batches over it, item by item, with the rules above.
package wal
