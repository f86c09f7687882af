package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/raftstore"
)

// ErrRaftStoreDamaged reports a raft.db that cannot be trusted: a file
// bbolt cannot map safely, or a log entry whose checksum does not match.
// The member refuses to start (or, found at run time, to use the entry);
// the error names the file and the recovery steps.
var ErrRaftStoreDamaged = raftstore.ErrDamaged

func (s *Server) setupRaft() error {
	dir := s.cfg.DataDir
	if err := raftstore.TightenDataDir(dir, s.logger); err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	// raft-boltdb v2 on bbolt, fsync on every commit (NoSync false);
	// the file checked before bbolt maps it, every entry checksummed
	// (internal/raftstore).
	store, summed, legacy, err := raftstore.Open(filepath.Join(dir, "raft", "raft.db"), s.raftRecovery())
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
	summed.OnDamage = s.failStop
	logs, err := raft.NewLogCache(512, summed)
	if err != nil {
		return err
	}
	rlog := raftstore.NewRaftLogger(s.logger.Named("raft"))
	files, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "raft"), 3, rlog)
	if err != nil {
		return fmt.Errorf("snapshot store in %s: %w", dir, err)
	}
	snapDir := filepath.Join(dir, "raft", "snapshots")
	if err := os.Chmod(snapDir, 0o700); err != nil {
		return fmt.Errorf("snapshot store in %s: %w", dir, err)
	}
	snaps := &raftstore.PrivateSnapshots{FileSnapshotStore: files, Dir: snapDir, Logger: s.logger}
	s.gate = &gatedLayer{StreamLayer: s.mux.RaftLayer()}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.gate,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  rlog.Named("net"),
	})

	rc := raftConfig(s.cfg.Timing)
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = rlog
	s.notify = make(chan bool, 16)
	rawNotify := make(chan bool, 16)
	rc.NotifyCh = rawNotify
	rc.SnapshotThreshold = 1024
	rc.TrailingLogs = 4096
	applyTestKnobs(rc, rlog)
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft settings derived from timing: %w", err)
	}
	if err := validatePace(*rc); err != nil {
		return fmt.Errorf("raft settings derived from timing, while leading: %w", err)
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
	s.pace = pacer{transfer: make(chan paceTransfer), done: make(chan struct{})}
	s.goFn(func() {
		defer close(s.pace.done)
		s.paceRaft(rawNotify, s.notify, rc.HeartbeatTimeout, rc.ElectionTimeout)
	})
	s.nudgeCh = make(chan struct{}, 1)
	s.goFn(s.nudgeLoop)
	if !existing {
		s.goFn(s.joinLoop)
	}
	return nil
}

// raftConfig is raft's configuration for the member timing t: timeouts
// (config.RaftTimings; the leader's pace is set by paceRaft) and the
// idle commit tick. Pre-vote stays on (raft's default): the paced leader
// relies on it (LeaderPaceFactor).
func raftConfig(t config.TimingConfig) *raft.Config {
	rc := raft.DefaultConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = config.RaftTimings(t)
	// Followers learn the commit index from the next AppendEntries; raft
	// sends one every CommitTimeout to 2 × CommitTimeout even when idle
	// (20ms cost an idle leader about 2.5 CPU-seconds a minute). Every
	// command goes through applyLocal, which then sends one at once
	// (nudge). The idle tick stays at a heartbeat all the same: it
	// travels on the replication connection, not the heartbeat one, and
	// its answers keep the leader's contact with a follower fresh while
	// a lost packet stalls the other connection for a TCP retransmission
	// (at a lease's pace, the fault suite's lossy-network scenario saw
	// the leader step down 5 times in 30 s at 2 % loss).
	rc.CommitTimeout = t.Heartbeat.D()
	return rc
}

// raftRecovery is the recovery advice in a damaged-store error.
func (s *Server) raftRecovery() string {
	id := s.cfg.NodeID
	return fmt.Sprintf("this member's Raft data cannot be trusted; to recover: stop the agent, move its data_dir %s aside, "+
		"run `raftha members remove %s` against a healthy member, start this one with `raftha agent --rejoin`, "+
		"then `raftha members add --id %s --address HOST:PORT` (docs/deploying.md: \"A damaged raft.db\")", s.cfg.DataDir, id, id)
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

func (s *Server) leaderAddr() (raft.ServerAddress, raft.ServerID) {
	return s.raft.LeaderWithID()
}

// futureErr is f.Error(), unless the member stops first. raft never
// answers a future it had queued but not yet taken when it shut down (its
// ShutdownCh is set only once taken), so a bare f.Error() can wait
// forever: Kill hung in closeAll's wait for the leader loop, blocked in an
// apply this way. A future cut off like this may still have been applied:
// the error wraps errLeadershipLost (outcome unknown, never retried).
func (s *Server) futureErr(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-s.ctx.Done():
		return fmt.Errorf("%w: the member stopped while raft was applying", errLeadershipLost)
	}
}

// proposeTimeout bounds one Raft apply.
const proposeTimeout = 10 * time.Second

func (s *Server) applyLocal(data []byte) (fsm.Result, error) {
	start := time.Now()
	f := s.raft.Apply(data, proposeTimeout)
	err := s.futureErr(f)
	s.metrics.applyDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fsm.Result{}, raftErr(err)
	}
	s.nudge()
	res, _ := f.Response().(fsm.Result)
	return res, nil
}

// raftErr gives the error of a raft future on the leader its sentinel.
// Refusals that took no effect wrap ErrNotLeader, so a call with retry is
// sent again: not the leader, and a leadership transfer under way (raft
// refuses every apply and configuration change until it ends; the CI
// failure of stop 19, "transfer of db to n2 failed: leadership transfer in
// progress", was an operator's transfer refused while the leader handed
// leadership to an idle node). A leadership lost while applying wraps
// errLeadershipLost: the entry may still commit, so it is never re-sent.
func raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v (leadership is moving to another member)", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", errLeadershipLost, err)
	}
	return err
}

// commitLocal applies c on this member, which must be the raft leader.
func (s *Server) commitLocal(c fsm.Command) (uint64, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return 0, err
	}
	return s.applyCommand(data)
}

func (s *Server) header(by string) fsm.Header {
	if by == "" {
		by = s.cfg.NodeID
	}
	return fsm.Header{At: time.Now().UTC().Round(time.Millisecond), By: by}
}
