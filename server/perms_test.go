package server

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// data_dir is the member's alone: a looser data_dir is tightened at start
// (with a log line) and snapshots are written 0700/0600.
func TestDataDirPrivate(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	m := c.member("n1")
	dir := m.cfg.DataDir
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "raft")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stray := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(stray, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(stray, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAll()
	l := c.leader()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n2", "n3")), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the group on n1", func() bool {
		_, ok := m.srv.State().Groups["db"]
		return ok
	})
	if err := m.srv.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	var loose []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			loose = append(loose, p+" "+info.Mode().Perm().String())
		}
		return nil
	})
	snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot written")
	}
	if len(loose) > 0 {
		t.Fatalf("readable by others in data_dir:\n%s", strings.Join(loose, "\n"))
	}
	if !strings.Contains(m.logs.String(), "tightened permissions in data_dir") {
		t.Error("no log line for the tightened paths")
	}
}
