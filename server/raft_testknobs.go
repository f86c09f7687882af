package server

import (
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Test knobs for the fault-injection suite (integration/): hashicorp/raft
// snapshots at most every SnapshotInterval (120s to 240s by default) once
// SnapshotThreshold entries accumulated, far beyond a test run. These
// environment variables, read once at start and logged, let a test make a
// member snapshot within a second and truncate its log, so that a restart
// goes through a snapshot restore. They are not configuration: nothing in
// the safety argument depends on them, and production never sets them.
const (
	envSnapshotThreshold = "RAFTHA_TEST_SNAPSHOT_THRESHOLD" // entries, e.g. 8
	envSnapshotInterval  = "RAFTHA_TEST_SNAPSHOT_INTERVAL"  // Go duration, e.g. 300ms
	envTrailingLogs      = "RAFTHA_TEST_TRAILING_LOGS"      // entries kept after a snapshot
)

// applyTestKnobs overrides rc's snapshot settings from the test knobs.
func applyTestKnobs(rc *raft.Config, log hclog.Logger) {
	if v, err := strconv.ParseUint(os.Getenv(envSnapshotThreshold), 10, 64); err == nil && v > 0 {
		rc.SnapshotThreshold = v
		log.Warn("test knob: snapshot threshold", "entries", v)
	}
	if d, err := time.ParseDuration(os.Getenv(envSnapshotInterval)); err == nil && d >= 5*time.Millisecond {
		rc.SnapshotInterval = d
		log.Warn("test knob: snapshot interval", "interval", d)
	}
	if v, err := strconv.ParseUint(os.Getenv(envTrailingLogs), 10, 64); err == nil {
		rc.TrailingLogs = v
		log.Warn("test knob: trailing logs", "entries", v)
	}
}
