package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestSnapshotAndRecoverCommands runs the backup and recovery commands
// against a real three-node cluster: snapshot save through a follower
// writes a verified 0600 file and leaves no temporary file; restore is
// refused (exit 1) while groups run and for a truncated file, and
// replaces the state once every group is stopped; recover is refused
// while the agent runs and when --lost does not name exactly the voters
// dropped, then recovers the survivor of a cluster that lost two nodes,
// which leads again and takes the lost members' groups over.
func TestSnapshotAndRecoverCommands(t *testing.T) {
	c := newThreeGroupCluster(t, "")
	var follower string
	for _, m := range c.members {
		if !m.srv.IsLeader() {
			follower = m.id
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	out, errs, code := c.cli(follower, "snapshot", "save", file)
	t.Logf("$ raftha snapshot save %s\n%s%s", file, out, errs)
	if code != 0 {
		t.Fatalf("snapshot save: exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := api.DecodeSnapshot(bytes.NewReader(data))
	if err != nil || h.Groups != 3 {
		t.Fatalf("saved file: %+v, %v", h, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v; want 0600", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	out, errs, code = c.cli(follower, "snapshot", "restore", file)
	t.Logf("$ raftha snapshot restore %s (groups running)\n%s%s", file, out, errs)
	if code != 1 {
		t.Fatalf("restore while groups run: exit %d; want 1", code)
	}
	trunc := filepath.Join(dir, "trunc.snap")
	if err := os.WriteFile(trunc, data[:len(data)-100], 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code = c.cli(follower, "snapshot", "restore", trunc)
	t.Logf("$ raftha snapshot restore %s\n%s%s", trunc, out, errs)
	if code != 1 {
		t.Fatalf("restore of a truncated file: exit %d; want 1", code)
	}
	for _, g := range []string{"cache", "db", "web"} {
		if out, errs, code := c.cli(follower, "group", "stop", g); code != 0 {
			t.Fatalf("group stop %s: exit %d: %s%s", g, code, out, errs)
		}
	}
	out, errs, code = c.cli(follower, "snapshot", "restore", file)
	t.Logf("$ raftha snapshot restore %s\n%s%s", file, out, errs)
	if code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "restored stopped (offline, suspended)") {
		t.Fatalf("restore output does not say the groups are restored stopped:\n%s", out)
	}
	for _, g := range []string{"cache", "db", "web"} {
		if out, errs, code := c.cli(follower, "group", "start", g); code != 0 {
			t.Fatalf("group start %s: exit %d: %s%s", g, code, out, errs)
		}
	}
	c.wait(30*time.Second, "the restored groups online again", func() bool {
		l := c.leader()
		for _, g := range l.srv.State().Groups {
			if g.Status.State != fsm.StateOnline || g.Status.Epoch <= h.Index+api.RestoreEpochGap {
				return false
			}
		}
		return true
	})

	// Two of three nodes are destroyed; n3 survives.
	n3 := c.member("n3")
	out, errs, code = runMain(t, "recover", "--config", n3.cfgFile, "--lost", "n1", "--lost", "n2")
	t.Logf("$ raftha recover (agent running)\n%s%s", out, errs)
	if code != 1 {
		t.Fatalf("recover while the agent runs: exit %d; want 1", code)
	}
	c.kill("n1")
	c.kill("n2")
	c.kill("n3")
	out, errs, code = runMain(t, "recover", "--config", n3.cfgFile, "--lost", "n1")
	t.Logf("$ raftha recover --lost n1\n%s%s", out, errs)
	if code != 1 {
		t.Fatalf("recover with --lost n1 only: exit %d; want 1", code)
	}
	out, errs, code = runMain(t, "recover", "--config", n3.cfgFile, "--lost", "n1", "--lost", "n2")
	t.Logf("$ raftha recover --config %s --lost n1 --lost n2\n%s%s", n3.cfgFile, out, errs)
	if code != 0 {
		t.Fatalf("recover: exit %d: %s", code, errs)
	}
	c.start("n3")
	if l := c.leader(); l.id != "n3" {
		t.Fatalf("leader %s; want n3", l.id)
	}
	c.wait(60*time.Second, "db and web online on n3", func() bool {
		st := n3.srv.State()
		for _, name := range []string{"db", "web"} {
			if g := st.Groups[name]; g == nil || g.Status.State != fsm.StateOnline || g.Status.Owner != "n3" {
				return false
			}
		}
		return true
	})
	out, errs, _ = c.cli("n3", "status")
	t.Logf("$ raftha status (after recovery)\n%s%s", out, errs)
}
