package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelraft/raft"
)

// ErrCorrupt is wrapped by the errors of Open when the files are damaged
// somewhere other than a torn write at the end of the log, or do not add up
// to a log (a segment or snapshot file missing). The error names the file
// and the byte offset.
var ErrCorrupt = errors.New("wal: corrupt")

// ErrClosed is returned by the writes to a Storage after Close.
var ErrClosed = errors.New("wal: storage is closed")

// DefaultSegmentSize is the SegmentSize used when Options leaves it zero.
//
// Each new segment is written full of zeros before it is used (see Files
// in the package documentation), and Open reads the whole of the last
// segment: 16 MiB keeps both short. Measured with three logs saving on
// one disk, the preparation of a 16 MiB segment took 110-200 ms, of 64 MiB
// 0.45-1.6 s, and the Saves made meanwhile are slower (see zeroFill); Open
// took ~170 ms on a last segment 90% full of 16 MiB, ~800 ms of 64 MiB,
// decoding it. A roll costs its Save 1-2 ms more, once a segment.
const DefaultSegmentSize = 16 << 20

// Options configure Open. The zero value is a usable default.
type Options struct {
	// SegmentSize is the size in bytes at which the log moves on to a new
	// segment file. A segment may exceed it by the last Save written to it.
	// Zero means DefaultSegmentSize.
	SegmentSize int64

	// CatchUpEntries is how many entries before a snapshot's index
	// CreateSnapshot keeps, so that a follower a little behind is sent
	// entries rather than the whole snapshot. Open keeps only the entries
	// after the snapshot. Zero keeps none.
	CatchUpEntries uint64

	// Logger receives the few lines the storage writes: a torn write cut
	// off, leftover files removed. Nil means slog.Default().
	Logger *slog.Logger
}

// Storage is a raft.Storage kept in a directory: a write-ahead log and
// snapshot files (see the package documentation). Save, SaveSnapshot and
// CreateSnapshot write to disk first, then make the writes visible to the
// raft.Storage methods. It is safe for concurrent use: typically the host
// writes while the node reads.
type Storage struct {
	dir  string
	opts Options
	log  *slog.Logger

	// mem is the log as the core reads it. The writers update it once the
	// disk holds what they wrote; it has its own lock.
	mem *raft.MemoryStorage

	mu   sync.Mutex // held by writers; guards the fields below
	segs []segment  // the segments of the log, oldest first; the last is f
	f    *os.File
	// size is the length of f's records: where the next one goes. The
	// file is longer while it is preallocated (fileSize), and the bytes
	// past size are zeros.
	size      int64
	fileSize  int64          // of f, as far as it was extended or cut
	dirty     bool           // f has writes since its last sync
	metaDirty bool           // f's size or allocation changed since its last sync
	dirDirty  bool           // a file was created in dir since its last fsync
	hs        raft.HardState // the last one saved
	buf       []byte         // reused to build records
	err       error          // the write or fsync that made the storage unusable
	closed    bool
	// unprepared: f's space past size was not prepared (see preparer),
	// so each first write to a block there costs a journal commit at the
	// next sync; f gives way to a prepared file as soon as one is ready.
	unprepared bool

	// allocate preallocates a segment: preallocateFile when the storage
	// was opened.
	allocate func(*os.File, int64) (bool, error)
	// prep prepares the next segment file while f is written to.
	prep *preparer
	// fromPrepared and created count the segments begun since Open from a
	// prepared file and from a new one, for tests and benchmarks.
	fromPrepared, created int

	// fsync syncs a file or directory. Every sync goes through it, so
	// that tests can replace it to count or fail syncs. Its default,
	// osSync, does an fdatasync when syncFile sets dataOnly.
	fsync    func(*os.File) error
	dataOnly bool // for fsync: the file's data is all that must be synced

	// syncs and syncTime count the calls to fsync and the nanoseconds they
	// took, for SyncStats, which reads them without s.mu.
	syncs    atomic.Int64
	syncTime atomic.Int64
}

var _ raft.Storage = (*Storage)(nil)

// Open opens the log in dir, creating the directory if it does not exist,
// and recovers the state that was saved: the newest snapshot, the entries
// after it, the last HardState. A torn write at the end of the log is cut
// off, with a line logged. Damage anywhere else makes Open fail with an
// error wrapping ErrCorrupt.
func Open(dir string, opts Options) (*Storage, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal: negative SegmentSize %d", opts.SegmentSize)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Storage{
		dir:  dir,
		opts: opts,
		log:  opts.Logger,
		mem:  raft.NewMemoryStorage(),
	}
	s.fsync = s.osSync
	s.allocate = preallocateFile
	s.prep = newPreparer(s.path(preparedName), opts.SegmentSize, s.allocate)
	if err := s.makeDir(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		if s.f != nil {
			s.f.Close()
		}
		return nil, err
	}
	return s, nil
}

// makeDir creates the directory if it does not exist, durably.
func (s *Storage) makeDir() error {
	if _, err := os.Stat(s.dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return s.syncPath(filepath.Dir(s.dir))
}

func (s *Storage) path(name string) string { return filepath.Join(s.dir, name) }

// InitialState implements raft.Storage.
func (s *Storage) InitialState() (raft.HardState, raft.ConfState, error) {
	return s.mem.InitialState()
}

// Entries implements raft.Storage.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]raft.Entry, error) {
	return s.mem.Entries(lo, hi, maxSize)
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) { return s.mem.Term(i) }

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) { return s.mem.LastIndex() }

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) { return s.mem.FirstIndex() }

// Snapshot implements raft.Storage. It returns the newest snapshot, data
// included, or an empty one.
func (s *Storage) Snapshot() (raft.Snapshot, error) { return s.mem.Snapshot() }

// Close syncs what was written without sync and closes the log. It stops
// the preparation of the next segment file, waits for it and removes the
// file. The raft.Storage methods still answer afterwards; the writes return
// ErrClosed.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	// First, so that its writes leave the disk to the last sync. A file
	// left behind does no harm: Open removes it.
	if err := s.prep.close(); err != nil {
		s.log.Warn("wal: could not remove the prepared segment file", "err", err)
	}
	var err error
	if s.err == nil {
		err = s.sync()
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: %w", cerr)
	}
	return err
}

// writable returns why the storage takes no writes, if it does not.
func (s *Storage) writable() error {
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return fmt.Errorf("wal: storage unusable after an earlier failure: %w", s.err)
	}
	return nil
}

// fail records err as the failure that makes the storage unusable, and
// returns it.
func (s *Storage) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

// SyncStats returns the count and total time of the fsync and fdatasync
// calls since Open: of segments, snapshot files and the directory, those of
// Open itself included. The sync of the next segment file, prepared in the
// background (see Files in the package documentation), is left out: no
// write waits for it. It may be called while another goroutine writes.
func (s *Storage) SyncStats() (syncs int64, total time.Duration) {
	return s.syncs.Load(), time.Duration(s.syncTime.Load())
}

// syncFile syncs f through the fsync hook, counting the call and its time.
// With dataOnly, an fdatasync does: f's size and allocation are on disk
// already, and only its data changed (see sync).
func (s *Storage) syncFile(f *os.File, dataOnly bool) error {
	start := time.Now()
	s.dataOnly = dataOnly
	err := s.fsync(f)
	s.dataOnly = false
	s.syncs.Add(1)
	s.syncTime.Add(int64(time.Since(start)))
	return err
}

// osSync is the default fsync hook: fdatasync if syncFile asked for the
// data only, fsync otherwise.
func (s *Storage) osSync(f *os.File) error {
	if s.dataOnly {
		return fdatasync(f)
	}
	return f.Sync()
}

// syncDir fsyncs the log's directory, so that files created, renamed or
// cut there stay so after a crash.
func (s *Storage) syncDir() error { return s.syncPath(s.dir) }

func (s *Storage) syncPath(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer d.Close()
	if err := s.syncFile(d, false); err != nil {
		return fmt.Errorf("wal: sync %s: %w", path, err)
	}
	return nil
}
