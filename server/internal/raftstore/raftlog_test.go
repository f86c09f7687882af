package raftstore

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestRaftLevel: raft's peer failures are WARN, a stream closed under the
// transport DEBUG, other stream failures WARN, and everything else (a
// storage failure) keeps ERROR.
func TestRaftLevel(t *testing.T) {
	closed := fmt.Errorf("read tcp: %w", net.ErrClosed)
	for _, tc := range []struct {
		level hclog.Level
		msg   string
		args  []any
		want  hclog.Level
	}{
		{hclog.Error, "failed to appendEntries to", []any{"peer", "n2", "error", errors.New("dial: connection refused")}, hclog.Warn},
		{hclog.Error, "failed to make requestVote RPC", []any{"error", errors.New("EOF")}, hclog.Warn},
		{hclog.Error, "failed to decode incoming command", []any{"error", closed}, hclog.Debug},
		{hclog.Error, "failed to decode incoming command", []any{"error", raft.ErrTransportShutdown}, hclog.Debug},
		{hclog.Error, "failed to decode incoming command", []any{"error", errors.New("unknown rpc type 9")}, hclog.Warn},
		{hclog.Error, "failed to persist vote", []any{"error", errors.New("disk full")}, hclog.Error},
		{hclog.Info, "failed to appendEntries to", nil, hclog.Info},
	} {
		if got := raftLevel(tc.level, tc.msg, tc.args); got != tc.want {
			t.Errorf("%s %q %v: level %s, want %s", tc.level, tc.msg, tc.args, got, tc.want)
		}
	}
}
