//go:build !linux

package wal

import "os"

// fallocate does nothing here: only the Linux build preallocates segments.
// Without preallocation every append grows the file, so the log syncs with
// fsync (see Storage.sync) and fdatasync below is never called for a segment.
func fallocate(*os.File, int64) (bool, error) { return false, nil }

// fdatasync is a full sync where the Linux call is not used.
func fdatasync(f *os.File) error { return f.Sync() }
