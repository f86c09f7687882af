package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/raftstore"
)

// Lost-quorum recovery (`raftha recover`, docs/backup-and-recovery.md):
// an offline rewrite of a stopped member's Raft configuration to the
// members that survived, with hashicorp/raft's RecoverCluster underneath.
//
// Why an offline command rather than a peers.json read at start (as
// Consul does): it runs once, says what it did (the voters before and
// after, the groups the lost members owned, the epoch floor), refuses
// while the agent runs, and leaves no file behind that a later start
// would apply again. Every survivor runs it with the same --keep list.
//
// Epochs. RecoverCluster keeps the survivor's log as it is; the lost
// members may have committed entries this member never received, and
// granted epochs above its last index. So the recovery snapshot is
// written at max(last index, epochFloor) + api.RestoreEpochGap (a hole
// in the log, as raft's own Restore leaves): every epoch granted after
// the recovery exceeds what the lost members could plausibly have
// granted, and any epoch --epoch-floor names. Owners are not changed,
// but every group that is active or owes a fence gets that new epoch
// (fsm.RegrantForRecovery): a survivor that ran a group before the lost
// majority took it over at a higher epoch acts for it again only above
// that epoch. A group owned by a lost member stays its until the leader,
// which no longer hears from it, takes it over the usual way, fencing it
// first (safety argument, clause 4).

// ErrRecoverRefused is wrapped by every refusal of RecoverCluster.
var ErrRecoverRefused = errors.New("recovery refused")

// RecoverOptions are the inputs of RecoverCluster.
type RecoverOptions struct {
	// Keep lists the other members that survived (ids the log knows);
	// this member is always kept. The new configuration has exactly
	// these voters.
	Keep []string
	// Lost lists the voters the operator declares lost for good; when
	// not nil it must be exactly the voters the recovery drops, or
	// nothing is changed (ErrRecoverRefused).
	Lost []string
	// EpochFloor, when not 0, is an epoch every epoch granted after the
	// recovery must exceed (the highest epoch known to have been used:
	// `raftha disk lock show`, the last status).
	EpochFloor uint64
	// Logger receives raft's messages; nil: none.
	Logger hclog.Logger
}

// RecoverResult says what RecoverCluster did.
type RecoverResult struct {
	// LastIndex is the last Raft index this member held.
	LastIndex uint64 `json:"last_index"`
	// Index is the index of the recovery snapshot: every later epoch is
	// greater.
	Index uint64 `json:"index"`
	// Before and After are the voters ("id=address"), before and after.
	Before []string `json:"voters_before"`
	After  []string `json:"voters_after"`
	// Removed are the voters dropped.
	Removed []string `json:"removed"`
	// LostOwned maps each group whose owner was dropped to that owner:
	// the new leader takes them over with a fence.
	LostOwned map[string]string `json:"lost_owned,omitempty"`
	// Regranted are the groups given the epoch Index because they were
	// active or owed a fence (fsm.RegrantForRecovery): their owners act
	// for them again only at Index.
	Regranted []string `json:"regranted,omitempty"`
}

// RecoverCluster rewrites the Raft configuration in cfg's data_dir to
// this member and opt.Keep, for a cluster that lost its quorum for good.
// The agent must be stopped (refused otherwise, ErrRecoverRefused).
func RecoverCluster(cfg config.Config, opt RecoverOptions) (RecoverResult, error) {
	var res RecoverResult
	cfg.SetDefaults()
	if cfg.NodeID == "" || cfg.DataDir == "" {
		return res, fmt.Errorf("%w: the configuration needs node_id and data_dir", ErrRecoverRefused)
	}
	logger := opt.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	dbPath := filepath.Join(raftDir, "raft.db")
	if _, err := os.Stat(dbPath); err != nil {
		return res, fmt.Errorf("%w: no Raft state in data_dir %s (%v): there is nothing to recover", ErrRecoverRefused, cfg.DataDir, err)
	}
	// bbolt locks the file: an agent that has it open makes this time out.
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		return res, fmt.Errorf("%w: %s is in use (%v): stop the agent first", ErrRecoverRefused, dbPath, err)
	}
	_ = db.Close()
	store, logs, _, err := raftstore.Open(dbPath, "restore the data_dir from a copy, or rebuild the cluster from a snapshot file")
	if err != nil {
		return res, err
	}
	defer func() { _ = store.Close() }()
	files, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 3, logger)
	if err != nil {
		return res, err
	}
	snaps := &raftstore.PrivateSnapshots{FileSnapshotStore: files, Dir: filepath.Join(raftDir, "snapshots"), Logger: logger}

	st, before, err := replayStored(logs, snaps)
	if err != nil {
		return res, err
	}
	res.LastIndex, _ = logs.LastIndex()
	res.LastIndex = max(res.LastIndex, st.Index)
	keep := append([]string{cfg.NodeID}, opt.Keep...)
	var conf raft.Configuration
	for _, id := range keep {
		addr := ""
		if m, ok := st.Members[id]; ok {
			addr = m.Address
		}
		if id == cfg.NodeID && addr == "" {
			addr = cfg.Advertise
		}
		if addr == "" {
			return res, fmt.Errorf("%w: member %s is not in the log: --keep names members that survived", ErrRecoverRefused, id)
		}
		if m, ok := st.Members[id]; ok && m.Role == fsm.RoleWitness && id != cfg.NodeID {
			logger.Info("keeping a witness", "member", id)
		}
		if slices.ContainsFunc(conf.Servers, func(s raft.Server) bool { return s.ID == raft.ServerID(id) }) {
			continue
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(addr)})
		res.After = append(res.After, id+"="+addr)
	}
	for _, s := range before.Servers {
		res.Before = append(res.Before, string(s.ID)+"="+string(s.Address))
		if !slices.Contains(keep, string(s.ID)) {
			res.Removed = append(res.Removed, string(s.ID))
		}
	}
	index, ok := gapIndex(max(res.LastIndex, opt.EpochFloor, maxEpoch(st)))
	if !ok {
		return res, fmt.Errorf("%w: epoch floor %d is beyond any index a cluster reaches", ErrRecoverRefused, opt.EpochFloor)
	}
	if opt.Lost != nil {
		a, b := slices.Sorted(slices.Values(opt.Lost)), slices.Sorted(slices.Values(res.Removed))
		if !slices.Equal(slices.Compact(a), b) {
			return res, fmt.Errorf("%w: the recovery would drop %v, but the members declared lost are %v; nothing was changed", ErrRecoverRefused, b, a)
		}
	}
	res.LostOwned = map[string]string{}
	for _, name := range st.GroupNames() {
		if o := st.Groups[name].Status.Owner; o != "" && !slices.Contains(keep, o) {
			res.LostOwned[name] = o
		}
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.Advertise))
	defer func() { _ = trans.Close() }()
	if err := raft.RecoverCluster(rc, fsm.New(), logs, store, snaps, trans, conf); err != nil {
		return res, fmt.Errorf("raft recovery: %w", err)
	}
	res.Index = index
	regranted, err := raiseSnapshotIndex(snaps, trans, res.Index)
	if err != nil {
		return res, err
	}
	res.Regranted = regranted
	return res, nil
}

// replayStored is the state and Raft configuration a stopped member's
// storage holds: its newest snapshot plus every log entry after it
// (committed or not, as RecoverCluster applies them).
func replayStored(logs raft.LogStore, snaps raft.SnapshotStore) (*fsm.State, raft.Configuration, error) {
	f := fsm.New()
	var conf raft.Configuration
	var from uint64
	list, err := snaps.List()
	if err != nil {
		return nil, conf, err
	}
	if len(list) > 0 {
		meta, rc, err := snaps.Open(list[0].ID)
		if err != nil {
			return nil, conf, err
		}
		err = f.Restore(rc)
		if err != nil {
			return nil, conf, fmt.Errorf("snapshot %s: %w", meta.ID, err)
		}
		conf, from = meta.Configuration, meta.Index
	}
	first, _ := logs.FirstIndex()
	last, err := logs.LastIndex()
	if err != nil {
		return nil, conf, err
	}
	for i := max(first, from+1); i <= last && i > 0; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return nil, conf, fmt.Errorf("log entry %d: %w", i, err)
		}
		switch l.Type {
		case raft.LogCommand:
			f.Apply(&l)
		case raft.LogConfiguration:
			conf = raft.DecodeConfiguration(l.Data)
		}
	}
	return f.View(), conf, nil
}

// raiseSnapshotIndex rewrites the newest snapshot (RecoverCluster's) at
// index, with the state's Index set to it, so that the next entry, and
// every epoch, is above index. The log is empty after RecoverCluster: the
// gap is a hole, as raft's Restore leaves one.
func raiseSnapshotIndex(snaps raft.SnapshotStore, trans raft.Transport, index uint64) ([]string, error) {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return nil, fmt.Errorf("no recovery snapshot to raise: %v", err)
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return nil, err
	}
	payload, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return nil, err
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	st.Index = index
	regranted := fsm.RegrantForRecovery(st, index, time.Now().UTC().Round(time.Millisecond))
	sink, err := snaps.Create(meta.Version, index, meta.Term, meta.Configuration, meta.ConfigurationIndex, trans)
	if err != nil {
		return nil, err
	}
	if err := fsm.WriteSnapshot(sink, st); err != nil {
		_ = sink.Cancel()
		return nil, err
	}
	return regranted, sink.Close()
}
