package raftstore

import (
	"errors"
	"io"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// raftPeerFailures are hashicorp/raft's ERROR messages about a peer that
// does not answer: a member stopping, restarting or cut off, which the
// cluster is built to survive (raftha's own lease and member-health logs
// report it). They are logged at WARN, so that a clean stop of a member
// or of the whole cluster, and a rolling restart, log no ERROR line.
var raftPeerFailures = map[string]bool{
	"failed to appendEntries to":                                true,
	"failed to heartbeat to":                                    true,
	"failed to make requestVote RPC":                            true,
	"failed to start pipeline replication to":                   true,
	"failed to pipeline appendEntries":                          true,
	"peer has newer term, stopping replication":                 true,
	"target does not support pre-vote RPC, treating as granted": true,
}

// raftStreamFailures are the NetworkTransport's ERROR messages about one
// connection. With a connection closed by either side (this member's own
// shutdown closes the ones it accepted) they say nothing and are logged
// at DEBUG; with any other error at WARN: the peer's next RPC opens a new
// connection.
var raftStreamFailures = map[string]bool{
	"failed to decode incoming command": true,
	"failed to flush response":          true,
	"failed to accept connection":       true,
}

// raftLogger is the hclog.Logger given to hashicorp/raft: it logs the
// library's expected peer and connection failures below ERROR (see
// raftPeerFailures and raftStreamFailures); every other line, storage
// failures among them, keeps its level.
type raftLogger struct {
	hclog.Logger
}

// NewRaftLogger wraps l for hashicorp/raft: it logs the library's
// expected peer and connection failures below ERROR; every other line,
// storage failures among them, keeps its level.
func NewRaftLogger(l hclog.Logger) hclog.Logger { return raftLogger{l} }

// Error logs msg at the level raftLevel gives it.
func (l raftLogger) Error(msg string, args ...any) {
	l.Logger.Log(raftLevel(hclog.Error, msg, args), msg, args...)
}

// Log logs msg at the level raftLevel gives it.
func (l raftLogger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(raftLevel(level, msg, args), msg, args...)
}

// Named returns a raftLogger named name under l.
func (l raftLogger) Named(name string) hclog.Logger { return raftLogger{l.Logger.Named(name)} }

// ResetNamed returns a raftLogger named name.
func (l raftLogger) ResetNamed(name string) hclog.Logger {
	return raftLogger{l.Logger.ResetNamed(name)}
}

// With returns a raftLogger with args.
func (l raftLogger) With(args ...any) hclog.Logger { return raftLogger{l.Logger.With(args...)} }

// raftLevel is the level of a raft log line at level with msg and args.
func raftLevel(level hclog.Level, msg string, args []any) hclog.Level {
	if level != hclog.Error {
		return level
	}
	switch {
	case raftPeerFailures[msg]:
		return hclog.Warn
	case raftStreamFailures[msg]:
		if closedConn(args) {
			return hclog.Debug
		}
		return hclog.Warn
	}
	return level
}

// closedConn reports whether the "error" in args is a closed connection
// or transport.
func closedConn(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k != "error" {
			continue
		}
		err, _ := args[i+1].(error)
		return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, raft.ErrTransportShutdown)
	}
	return false
}
