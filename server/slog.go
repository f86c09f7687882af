package server

// Options.Slog: the hclog.Logger that raftha (and the hashicorp/raft
// library, which needs hclog) writes to, backed by a *slog.Logger.

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// slogTrace is the slog level hclog's Trace maps to (below Debug).
const slogTrace = slog.LevelDebug - 4

// slogLogger adapts a *slog.Logger to hclog.Logger. Names become the
// "logger" attribute (dot-joined, as hclog names them); levels map
// Trace→Debug-4, Debug, Info, Warn, Error. The slog handler decides what is
// written; SetLevel only filters further.
type slogLogger struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level, shared by derived loggers
}

// NewSlogLogger returns an hclog.Logger that writes to l: what New uses
// for Options.Slog.
func NewSlogLogger(l *slog.Logger) hclog.Logger {
	lv := &atomic.Int32{}
	lv.Store(int32(hclog.Trace))
	return &slogLogger{l: l, level: lv}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slogTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (s *slogLogger) enabled(level hclog.Level) bool {
	if level < hclog.Level(s.level.Load()) {
		return false
	}
	return s.l.Enabled(context.Background(), slogLevel(level))
}

// Log implements hclog.Logger.
func (s *slogLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level == hclog.NoLevel {
		level = hclog.Info
	}
	if !s.enabled(level) {
		return
	}
	attrs := make([]any, 0, len(s.implied)+len(args)+2)
	if s.name != "" {
		attrs = append(attrs, "logger", s.name)
	}
	attrs = append(attrs, s.implied...)
	attrs = append(attrs, args...)
	s.l.Log(context.Background(), slogLevel(level), msg, attrs...)
}

// Trace implements hclog.Logger.
func (s *slogLogger) Trace(msg string, args ...any) { s.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (s *slogLogger) Debug(msg string, args ...any) { s.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (s *slogLogger) Info(msg string, args ...any) { s.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (s *slogLogger) Warn(msg string, args ...any) { s.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (s *slogLogger) Error(msg string, args ...any) { s.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (s *slogLogger) IsTrace() bool { return s.enabled(hclog.Trace) }

// IsDebug implements hclog.Logger.
func (s *slogLogger) IsDebug() bool { return s.enabled(hclog.Debug) }

// IsInfo implements hclog.Logger.
func (s *slogLogger) IsInfo() bool { return s.enabled(hclog.Info) }

// IsWarn implements hclog.Logger.
func (s *slogLogger) IsWarn() bool { return s.enabled(hclog.Warn) }

// IsError implements hclog.Logger.
func (s *slogLogger) IsError() bool { return s.enabled(hclog.Error) }

// ImpliedArgs implements hclog.Logger.
func (s *slogLogger) ImpliedArgs() []any { return s.implied }

// With implements hclog.Logger.
func (s *slogLogger) With(args ...any) hclog.Logger {
	c := *s
	c.implied = append(append([]any(nil), s.implied...), args...)
	return &c
}

// Name implements hclog.Logger.
func (s *slogLogger) Name() string { return s.name }

// Named implements hclog.Logger.
func (s *slogLogger) Named(name string) hclog.Logger {
	c := *s
	if s.name != "" {
		c.name = s.name + "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed implements hclog.Logger.
func (s *slogLogger) ResetNamed(name string) hclog.Logger {
	c := *s
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger.
func (s *slogLogger) SetLevel(level hclog.Level) { s.level.Store(int32(level)) }

// GetLevel implements hclog.Logger.
func (s *slogLogger) GetLevel() hclog.Level { return hclog.Level(s.level.Load()) }

// StandardLogger implements hclog.Logger.
func (s *slogLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(s.StandardWriter(opts), "", 0)
}

// StandardWriter implements hclog.Logger: each line is logged at Info (or
// opts.ForceLevel).
func (s *slogLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return slogWriter{s: s, level: level}
}

type slogWriter struct {
	s     *slogLogger
	level hclog.Level
}

func (w slogWriter) Write(p []byte) (int, error) {
	w.s.Log(w.level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
