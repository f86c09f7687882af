package exec

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

func build(t *testing.T, p Params, dataDir string) *Resource {
	t.Helper()
	res, err := Type.Build(&p, resources.Env{Logger: hclog.NewNullLogger(), DataDir: dataDir, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	return res.(*Resource)
}

// alivePID reports whether pid runs and is not a zombie.
func alivePID(pid int) bool {
	f, err := procStat(pid)
	return err == nil && f[statState] != "Z"
}

func waitGone(t *testing.T, pid int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alivePID(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestRunStoppedAfterAgentCrash: a run: process whose agent crashed (the
// Resource value is dropped; the process keeps running) is stopped by the
// Stop of a new Resource with the same DataDir, as the runner does when an
// agent starts, and its record is removed.
func TestRunStoppedAfterAgentCrash(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "resources", "db", "app")
	p := Params{Run: "exec sleep 300", Timeout: "2s"}
	tok := resources.Token{Group: "db", Node: "n1", Epoch: 7, Resource: "app"}
	first := build(t, p, dataDir)
	if err := first.Start(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	pid := first.proc.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	// Crash: the first Resource is forgotten, its process runs on.
	first = nil

	second := build(t, p, dataDir)
	if err := second.Stop(context.Background(), tok); err != nil {
		t.Fatalf("stop after crash: %v", err)
	}
	if !waitGone(t, pid, 5*time.Second) {
		t.Fatalf("run process %d survived the Stop of a restarted agent", pid)
	}
	if _, err := os.Stat(filepath.Join(dataDir, recordFile)); !os.IsNotExist(err) {
		t.Fatalf("record left after stop: %v", err)
	}
	// Idempotent: a second Stop with nothing recorded does nothing.
	if err := second.Stop(context.Background(), tok); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// TestRunRecordOfAnotherProcessIsNotKilled: a record whose start time does
// not match the process now holding that PID (PID reuse) kills nothing;
// the record is dropped.
func TestRunRecordOfAnotherProcessIsNotKilled(t *testing.T) {
	dataDir := t.TempDir()
	// An unrelated process, leading its own group, stands for the process
	// that reused the recorded PID.
	other := build(t, Params{Run: "exec sleep 300", Timeout: "2s"}, t.TempDir())
	if err := other.Start(context.Background(), resources.Token{}); err != nil {
		t.Fatal(err)
	}
	pid := other.proc.Process.Pid
	t.Cleanup(func() { _ = other.Stop(context.Background(), resources.Token{}) })
	f, err := procStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	start, _ := strconv.ParseUint(f[statStartTime], 10, 64)
	for _, rec := range []runRecord{
		{PGID: pid, StartTime: strconv.FormatUint(start-1, 10), BootID: bootID()}, // older process, same PID
		{PGID: pid, StartTime: f[statStartTime], BootID: "another-boot"},          // same numbers, earlier boot
	} {
		b, _ := json.Marshal(rec)
		if err := os.WriteFile(filepath.Join(dataDir, recordFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		r := build(t, Params{Run: "exec sleep 300", Timeout: "1s"}, dataDir)
		if err := r.Stop(context.Background(), resources.Token{}); err != nil {
			t.Fatalf("stop with a stale record %+v: %v", rec, err)
		}
		time.Sleep(200 * time.Millisecond)
		if !alivePID(pid) {
			t.Fatalf("a process that only reused the recorded PID was killed (record %+v)", rec)
		}
		if _, err := os.Stat(filepath.Join(dataDir, recordFile)); !os.IsNotExist(err) {
			t.Fatalf("stale record kept: %v", err)
		}
	}
}
