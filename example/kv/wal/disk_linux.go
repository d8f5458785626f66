//go:build linux

package wal

import (
	"errors"
	"os"
	"syscall"
)

// fallocate allocates the blocks of f up to size bytes and extends f to that
// size if it is smaller (fallocate(2), mode 0: the new bytes read as zeros).
// It reports false, with no error, when the file system cannot preallocate:
// the log then does without.
func fallocate(f *os.File, size int64) (bool, error) {
	var err error
	if cerr := control(f, func(fd int) {
		for {
			if err = syscall.Fallocate(fd, 0, 0, size); err != syscall.EINTR {
				return
			}
		}
	}); cerr != nil {
		return false, cerr
	}
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP) {
		return false, nil
	}
	if err != nil {
		return false, os.NewSyscallError("fallocate", err)
	}
	return true, nil
}

// fdatasync flushes f's data and only the metadata needed to read it back
// (fdatasync(2)), not its timestamps: one journal commit fewer than fsync
// when an append did not change the file's size.
func fdatasync(f *os.File) error {
	var err error
	if cerr := control(f, func(fd int) {
		for {
			if err = syscall.Fdatasync(fd); err != syscall.EINTR {
				return
			}
		}
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("fdatasync", err)
	}
	return nil
}

// control runs fn on f's descriptor, which stays open meanwhile.
func control(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}
