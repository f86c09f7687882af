package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// Backup and restore of the cluster state (`raftha snapshot save` and
// `restore`, docs/backup-and-recovery.md). Both run on the leader; a
// follower's API redirects them there (307), so that a save is never a
// lagging follower's state and a restore goes through raft.Restore, which
// only a leader may call.
//
// Epochs after a restore. The epoch is the Raft index of the granting
// entry, and an epoch must never go backwards: a node, a disk lock
// (resources/disk) or a script may hold the highest epoch it saw. raft's
// Restore writes the snapshot at max(its index, the log's last index)+1,
// so later entries already outrank everything this cluster granted. But
// the snapshot may be older than what the cluster that wrote it granted
// since (a fresh cluster restoring a backup), so the restore is written at
// max(snapshot index, last index, --epoch-floor) + api.RestoreEpochGap.
// And nothing acts at a restored epoch: fsm.PrepareRestore restores every
// active group offline (its epoch kept) and the leader places it again at
// a new epoch above that index. Nothing of the running cluster may run
// meanwhile: every group must be stopped (`raftha group stop`: suspended
// and offline or failed) before a restore, or it is refused (busy).

// restoreTimeout bounds raft's Restore (writing and installing the
// snapshot, then committing a no-op entry).
const restoreTimeout = time.Minute

// SaveSnapshot takes a consistent Raft snapshot on this member, the
// leader, and returns it as a snapshot file (api.EncodeSnapshot).
func (s *Server) SaveSnapshot(ctx context.Context) ([]byte, api.SnapshotHeader, error) {
	if err := s.snapshotLeader(ctx); err != nil {
		return nil, api.SnapshotHeader{}, err
	}
	f := s.raft.Snapshot()
	if err := s.futureErr(f); err != nil {
		return nil, api.SnapshotHeader{}, fmt.Errorf("take snapshot: %w", raftErr(err))
	}
	meta, rc, err := f.Open()
	if err != nil {
		return nil, api.SnapshotHeader{}, fmt.Errorf("open snapshot: %w", err)
	}
	defer rc.Close()
	payload, err := io.ReadAll(io.LimitReader(rc, api.MaxSnapshotSize+1))
	if err != nil {
		return nil, api.SnapshotHeader{}, fmt.Errorf("read snapshot: %w", err)
	}
	if len(payload) > api.MaxSnapshotSize {
		return nil, api.SnapshotHeader{}, fmt.Errorf("snapshot larger than %d bytes", api.MaxSnapshotSize)
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(payload))
	if err != nil {
		return nil, api.SnapshotHeader{}, err
	}
	var buf bytes.Buffer
	h, err := api.EncodeSnapshot(&buf, api.SnapshotHeader{Index: meta.Index, Term: meta.Term, Created: time.Now().UTC().Round(time.Millisecond),
		Member: s.cfg.NodeID, Groups: len(st.Groups), Members: len(st.Members)}, payload)
	if err != nil {
		return nil, h, err
	}
	s.logger.Info("snapshot saved", "index", h.Index, "term", h.Term, "bytes", h.Size, "groups", h.Groups)
	return buf.Bytes(), h, nil
}

// RestoreSnapshot restores file, a snapshot file, into the cluster
// through raft's Restore on this member, the leader, as by. A file that
// fails its checks is refused (fsm.ErrInvalid wrapping
// api.ErrSnapshotInvalid); a cluster where a group is not stopped is
// refused (fsm.ErrBusy). Every epoch granted afterwards exceeds
// epochFloor, the snapshot's index and the log's last index, by at least
// api.RestoreEpochGap.
func (s *Server) RestoreSnapshot(ctx context.Context, file []byte, epochFloor uint64, by string) (api.RestoreResult, error) {
	h, payload, err := api.DecodeSnapshot(bytes.NewReader(file))
	if err != nil {
		return api.RestoreResult{}, fmt.Errorf("%w: %w", fsm.ErrInvalid, err)
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(payload))
	if err != nil {
		return api.RestoreResult{}, fmt.Errorf("%w: %w: %w", fsm.ErrInvalid, api.ErrSnapshotInvalid, err)
	}
	if err := s.snapshotLeader(ctx); err != nil {
		return api.RestoreResult{}, err
	}
	if err := restoreAllowed(s.fsm.View()); err != nil {
		return api.RestoreResult{}, err
	}
	return s.installRestore(h, st, epochFloor, by)
}

// installRestore is RestoreSnapshot after its checks: st (read from the
// file whose header is h) becomes the cluster state through raft's
// Restore, at an index above everything known (gapIndex).
func (s *Server) installRestore(h api.SnapshotHeader, st *fsm.State, epochFloor uint64, by string) (api.RestoreResult, error) {
	index, ok := gapIndex(max(h.Index, st.Index, s.raft.LastIndex(), epochFloor, maxEpoch(st)))
	if !ok {
		return api.RestoreResult{}, fmt.Errorf("%w: epoch floor or snapshot index is beyond any index a cluster reaches", fsm.ErrInvalid)
	}
	active := fsm.PrepareRestore(st, s.fsm.View(), index, time.Now().UTC().Round(time.Millisecond), by)
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, st); err != nil {
		return api.RestoreResult{}, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index, Term: h.Term, Size: int64(buf.Len())}
	s.logger.Warn("restoring a snapshot: the cluster state is replaced", "snapshot_index", h.Index, "created", h.Created, "by", by, "restore_index", index+1, "replaced", active)
	if err := s.futureErr(restoreFuture(func() error { return s.raft.Restore(meta, &buf, restoreTimeout) })); err != nil {
		return api.RestoreResult{}, fmt.Errorf("restore: %w", raftErr(err))
	}
	s.nudge()
	return api.RestoreResult{Snapshot: h, Index: index + 1, Groups: st.GroupNames(), Replaced: active}, nil
}

// gapIndex is base + api.RestoreEpochGap, the index a restore or a
// lost-quorum recovery moves the log to; ok is false when base is so large
// that the sum could wrap (an absurd --epoch-floor).
func gapIndex(base uint64) (uint64, bool) {
	if base > math.MaxUint64/2 {
		return 0, false
	}
	return base + api.RestoreEpochGap, true
}

// restoreFuture runs fn (a blocking raft call) as a raft.Future, so that
// futureErr bounds it by the member's life.
type restoreFuture func() error

// Error implements raft.Future.
func (f restoreFuture) Error() error { return f() }

// restoreAllowed refuses a restore while a group of the running cluster
// may run or be placed: each must be suspended and offline, or failed
// with its stop done (what `raftha group stop` leaves).
func restoreAllowed(live *fsm.State) error {
	for _, name := range live.GroupNames() {
		gs := live.Groups[name].Status
		if gs.Active() || gs.StopFailed || !gs.Suspended {
			return fmt.Errorf("%w: group %s is %s on %q (suspended: %v); stop every group first (`raftha group stop %s`) so that nothing runs while the state is replaced", fsm.ErrBusy, name, gs.State, gs.Owner, gs.Suspended, name)
		}
	}
	return nil
}

// maxEpoch is the highest epoch in st (the index bounds it already; kept
// so that a hand-edited snapshot cannot lower a future epoch either).
func maxEpoch(st *fsm.State) uint64 {
	var m uint64
	for _, g := range st.Groups {
		m = max(m, g.Status.Epoch)
	}
	return m
}

// snapshotLeader checks that this member is the leader and has applied
// everything committed (a Barrier), within ctx.
func (s *Server) snapshotLeader(ctx context.Context) error {
	if err := s.checkRunning(); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	timeout := proposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := s.futureErr(s.raft.Barrier(timeout)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoQuorum, raftErr(err))
	}
	return nil
}
