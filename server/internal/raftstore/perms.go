package raftstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Snapshots and run records hold every group's commands and environment:
// data_dir is the member's alone. Directories are 0700 and files 0600 (or
// stricter): group and other permissions are removed.
const privateBits fs.FileMode = 0o077

// TightenDataDir creates dir 0700 and removes group and other permissions
// from it and everything under it on the same file system (a file system
// mounted below it is not the agent's to change), logging each path it
// tightened. Symbolic links are not followed.
func TightenDataDir(dir string, logger hclog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	root, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	dev, _ := deviceOf(root)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // vanished while walking
		}
		if d.IsDir() && p != dir {
			if other, ok := deviceOf(info); ok && other != dev {
				return fs.SkipDir
			}
		}
		if info.Mode()&fs.ModeSymlink != 0 || !(info.Mode().IsRegular() || info.IsDir()) {
			return nil
		}
		mode := info.Mode().Perm()
		if mode&privateBits == 0 {
			return nil
		}
		if err := os.Chmod(p, mode&^privateBits); err != nil {
			return err
		}
		logger.Warn("tightened permissions in data_dir: it holds the cluster's commands and environment", "path", p, "was", mode.String(), "now", (mode &^ privateBits).String())
		return nil
	})
}

func deviceOf(info fs.FileInfo) (uint64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true // Dev is uint32 on some platforms
}

// PrivateSnapshots wraps a file snapshot store so that each snapshot it
// writes (taken here or installed from the leader) ends 0700/0600; the
// library creates them 0755/0644.
type PrivateSnapshots struct {
	*raft.FileSnapshotStore
	// Dir is the store's snapshots directory.
	Dir string
	// Logger hears of permissions it could not set.
	Logger hclog.Logger
}

// Create implements raft.SnapshotStore.
func (p *PrivateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration, configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := p.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &privateSink{SnapshotSink: sink, p: p}, nil
}

// privateSink is the sink PrivateSnapshots.Create returns.
type privateSink struct {
	raft.SnapshotSink
	p *PrivateSnapshots
}

// Close implements raft.SnapshotSink: it closes the snapshot, then makes
// its directory and files private.
func (s *privateSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	dir := filepath.Join(s.p.Dir, s.ID())
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.p.Logger.Warn("snapshot permissions", "error", err)
		return nil
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o600); err != nil {
			s.p.Logger.Warn("snapshot permissions", "error", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		s.p.Logger.Warn("snapshot permissions", "error", err)
	}
	return nil
}
