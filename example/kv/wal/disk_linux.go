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
	err := onFD(f, "fallocate", func(fd int) error { return syscall.Fallocate(fd, 0, 0, size) })
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP) {
		return false, nil
	}
	return err == nil, err
}

// fdatasync flushes f's data and only the metadata needed to read it back
// (fdatasync(2)), not its timestamps: one journal commit fewer than fsync
// when an append did not change the file's size.
func fdatasync(f *os.File) error { return onFD(f, "fdatasync", syscall.Fdatasync) }

// onFD makes the system call named name on f's descriptor, again while it
// is interrupted (EINTR), and returns its error as an *os.SyscallError.
func onFD(f *os.File, name string, call func(fd int) error) error {
	var err error
	if cerr := control(f, func(fd int) {
		for err = call(fd); err == syscall.EINTR; err = call(fd) {
		}
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError(name, err)
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
