package exec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/internal/durable"
)

// runRecord is what a run: command's Start leaves in the resource's
// DataDir, so that a later Stop (by an agent that crashed and restarted,
// and so has no process in memory) can stop exactly that process group,
// and never an unrelated process that reused the PID.
type runRecord struct {
	// PGID is the run command's process group id (its PID: it leads its
	// own group).
	PGID int `json:"pgid"`
	// StartTime is field 22 of /proc/PGID/stat: the process start time in
	// clock ticks since boot. A reused PID has another one.
	StartTime string `json:"start_time"`
	// BootID is /proc/sys/kernel/random/boot_id when the record was
	// written: start times only compare within one boot.
	BootID string `json:"boot_id"`
}

// recordFile is the run record's name inside the resource's DataDir.
const recordFile = "run.json"

// errNoDataDir means the resource has no DataDir to record its process in.
var errNoDataDir = errors.New("exec: run: the resource has no data directory to record its process in")

func (r *Resource) logger() hclog.Logger {
	if r.env.Logger == nil {
		return hclog.NewNullLogger()
	}
	return r.env.Logger
}

func (r *Resource) recordPath() string { return filepath.Join(r.env.DataDir, recordFile) }

// procStat returns fields of /proc/PID/stat by their 1-based number
// (field 3, the state, onwards), parsed after the command name, which may
// hold spaces and parentheses.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("exec: unexpected /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("exec: short /proc/%d/stat: %q", pid, s)
	}
	return f, nil
}

// stat field numbers, as proc(5) counts them, and their index in procStat.
const (
	statState     = 3 - 3
	statPgrp      = 5 - 3
	statStartTime = 22 - 3
)

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// writeRecord records pid (the leader of its own process group) durably:
// temp file, fsync, rename, fsync of the directory.
func (r *Resource) writeRecord(pid int) error {
	if r.env.DataDir == "" {
		return errNoDataDir
	}
	f, err := procStat(pid)
	if err != nil {
		return fmt.Errorf("exec: run: read the start time of pid %d: %w", pid, err)
	}
	data, err := json.Marshal(runRecord{PGID: pid, StartTime: f[statStartTime], BootID: bootID()})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(r.recordPath(), data, 0o600); err != nil {
		return fmt.Errorf("exec: run: record the process: %w", err)
	}
	return nil
}

// removeRecord forgets the recorded process (it was stopped).
func (r *Resource) removeRecord() error {
	if r.env.DataDir == "" {
		return nil
	}
	if err := durable.Remove(r.recordPath()); err != nil {
		return fmt.Errorf("exec: run: remove the process record: %w", err)
	}
	return nil
}

func (r *Resource) readRecord() (*runRecord, error) {
	if r.env.DataDir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(r.recordPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("exec: run: read the process record: %w", err)
	}
	var rec runRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.PGID <= 1 || rec.StartTime == "" {
		return nil, fmt.Errorf("exec: run: unreadable process record %s: %q", r.recordPath(), b)
	}
	return &rec, nil
}

// alive reports whether the recorded process still runs as the same
// process (same boot, same start time, still leading its group). A zombie
// is not alive.
func (rec *runRecord) alive() bool {
	if rec.BootID != bootID() {
		return false
	}
	f, err := procStat(rec.PGID)
	if err != nil {
		return false
	}
	return f[statStartTime] == rec.StartTime && f[statPgrp] == strconv.Itoa(rec.PGID) && f[statState] != "Z"
}

// stopRecorded stops the process group a previous Start recorded, when
// this Resource has no process in memory (the agent that started it
// crashed): SIGTERM, then SIGKILL after the stop timeout or when ctx ends. It
// signals only a process whose identity matches the record, then removes
// the record.
func (r *Resource) stopRecorded(done <-chan struct{}) error {
	rec, err := r.readRecord()
	if err != nil || rec == nil {
		return err
	}
	if !rec.alive() {
		r.logger().Debug("recorded run process is gone", "pgid", rec.PGID)
		return r.removeRecord()
	}
	r.logger().Info("stopping the run process an earlier agent started", "pgid", rec.PGID)
	waitGone := func(d time.Duration, stop <-chan struct{}) bool {
		deadline := time.NewTimer(d)
		defer deadline.Stop()
		for rec.alive() {
			select {
			case <-deadline.C:
				return false
			case <-stop:
				return false
			case <-time.After(20 * time.Millisecond):
			}
		}
		return true
	}
	_ = syscall.Kill(-rec.PGID, syscall.SIGTERM)
	if !waitGone(r.stopTimeout, done) {
		if rec.alive() { // never signal a group whose leader is not ours
			_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
		}
		if !waitGone(5*time.Second, nil) {
			return fmt.Errorf("exec: run: process group %d (started by an earlier agent) survived SIGKILL", rec.PGID)
		}
	}
	// Whatever the leader left behind in its group goes too: a group id
	// is not reused while a member remains, so while no other process has
	// taken the PID, a group with that id is still ours.
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(rec.PGID))); errors.Is(err, fs.ErrNotExist) {
		_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
	}
	return r.removeRecord()
}
