//go:build linux && !arm

package wal

import (
	"os"
	"syscall"
)

// The flags of sync_file_range(2), which package syscall does not name.
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

// writeBack writes the bytes [off, off+n) of f to the disk and waits until
// they are written: no cache flush, no journal commit, only the writeback
// of those pages (sync_file_range(2)). It keeps a background writer from
// piling up dirty pages that a later fsync would send to the disk all at
// once, in front of the log's own writes.
func writeBack(f *os.File, off, n int64) error {
	return onFD(f, "sync_file_range", func(fd int) error {
		return syscall.SyncFileRange(fd, off, n, syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter)
	})
}
