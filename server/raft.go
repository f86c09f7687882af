package server

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
)

func (s *Server) setupRaft() error {
	dir := s.cfg.DataDir
	if err := tightenDataDir(dir, s.logger); err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	// raft-boltdb v2 on bbolt, fsync on every commit (NoSync false);
	// the file checked before bbolt maps it, every entry checksummed
	// (boltcheck.go, logsum.go).
	store, summed, legacy, err := openRaftStore(filepath.Join(dir, "raft", "raft.db"), s.raftRecovery())
	if err != nil {
		return err
	}
	s.store = store
	if legacy > 0 {
		s.logger.Info("raft log entries written by a build without checksums are read unverified until compaction removes them", "entries", legacy)
	}
	// Damage found after start: the member stops rather than serve a log
	// it cannot trust (Err reports why). On the apply path Raft itself
	// panics with the same error.
	summed.onDamage = s.failStop
	logs, err := raft.NewLogCache(512, summed)
	if err != nil {
		return err
	}
	rlog := s.logger.Named("raft")
	files, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "raft"), 3, rlog)
	if err != nil {
		return fmt.Errorf("snapshot store in %s: %w", dir, err)
	}
	snapDir := filepath.Join(dir, "raft", "snapshots")
	if err := os.Chmod(snapDir, 0o700); err != nil {
		return fmt.Errorf("snapshot store in %s: %w", dir, err)
	}
	snaps := &privateSnapshots{FileSnapshotStore: files, dir: snapDir, logger: s.logger}
	s.gate = &gatedLayer{StreamLayer: s.mux.RaftLayer()}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.gate,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  rlog.Named("net"),
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = rlog
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = config.RaftTimings(s.cfg.Timing)
	// Followers learn the commit index from the next AppendEntries; raft
	// sends one every CommitTimeout even when idle (20ms cost an idle
	// leader about 2.5 CPU-seconds a minute). Idle, a heartbeat's delay is
	// fine; after each command the leader sends one at once (nudge).
	rc.CommitTimeout = s.cfg.Timing.Heartbeat.D()
	s.notify = make(chan bool, 16)
	rc.NotifyCh = s.notify
	rc.SnapshotThreshold = 1024
	rc.TrailingLogs = 4096
	applyTestKnobs(rc, rlog)
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft settings derived from timing: %w", err)
	}

	existing, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state in %s: %w", dir, err)
	}
	if existing {
		s.logger.Info("reusing the stored raft configuration; members: in the config file are ignored")
		s.gate.open.Store(true)
	} else {
		// No amnesia: bootstrap (or take part) only once the other
		// members say the cluster is new (amnesia.go, joinLoop).
		s.logger.Info("empty data_dir: asking the other members whether the cluster exists before bootstrapping", "data_dir", dir, "rejoin", s.rejoin)
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, store, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	s.raftReady.Store(true)
	s.nudgeCh = make(chan struct{}, 1)
	s.goFn(s.nudgeLoop)
	if !existing {
		s.goFn(s.joinLoop)
	}
	return nil
}

// raftRecovery is the recovery advice in a damaged-store error.
func (s *Server) raftRecovery() string {
	id := s.cfg.NodeID
	return fmt.Sprintf("this member's Raft data cannot be trusted; to recover: stop the agent, move its data_dir %s aside, "+
		"run `raftha members remove %s` against a healthy member, start this one with `raftha agent --rejoin`, "+
		"then `raftha members add --id %s --address HOST:PORT` (README: \"A damaged raft.db\")", s.cfg.DataDir, id, id)
}

func hclogLevel(s string) hclog.Level {
	if l := hclog.LevelFromString(s); l != hclog.NoLevel {
		return l
	}
	return hclog.Info
}

// nudge makes the leader tell the followers its commit index now, not at
// raft's next CommitTimeout tick: a follower applies a committed entry
// (an owner's Assign, a winner's Fenced) only once it learns the index.
// Nudges coalesce: one runs at a time, and one more queues behind it.
func (s *Server) nudge() {
	select {
	case s.nudgeCh <- struct{}{}:
	default:
	}
}

// nudgeLoop appends a Barrier for each nudge. A Barrier is an entry no FSM
// sees; raft replicates it at once, with the leader's commit index.
func (s *Server) nudgeLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.nudgeCh:
			if s.raft.State() == raft.Leader {
				_ = s.futureErr(s.raft.Barrier(proposeTimeout))
			}
		}
	}
}
