package raft

import (
	"context"
	"fmt"
	"log/slog"
)

// Logger receives a node's log lines. Lines are few: one per role change,
// conflict repair, snapshot and membership change, plus debug detail.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	Errorf(format string, args ...any)
}

// slogLogger adapts log/slog to Logger, tagging each line with the node ID.
type slogLogger struct {
	l *slog.Logger
}

// defaultLogger logs through slog's default logger.
func defaultLogger(id uint64) Logger {
	return slogLogger{l: slog.Default().With("raft", fmt.Sprintf("%x", id))}
}

// NewSlogLogger returns a Logger that writes to l, with the node ID as the
// "raft" attribute (in hex, as everywhere in the library's logs).
func NewSlogLogger(l *slog.Logger, id uint64) Logger {
	return slogLogger{l: l.With("raft", fmt.Sprintf("%x", id))}
}

func (s slogLogger) Debugf(format string, args ...any) { s.log(slog.LevelDebug, format, args) }

func (s slogLogger) Infof(format string, args ...any) { s.log(slog.LevelInfo, format, args) }

func (s slogLogger) Warningf(format string, args ...any) { s.log(slog.LevelWarn, format, args) }

func (s slogLogger) Errorf(format string, args ...any) { s.log(slog.LevelError, format, args) }

// log formats the line only if the level is enabled, so that debug lines
// cost nothing on hot paths.
func (s slogLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if s.l.Enabled(ctx, level) {
		s.l.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

// DiscardLogger drops every line. Tests and simulations use it.
var DiscardLogger Logger = discardLogger{}

type discardLogger struct{}

func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warningf(string, ...any) {}
func (discardLogger) Errorf(string, ...any)   {}
