package owner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/durable"
)

// RunRecord is what this node may have running for one group, kept in
// data_dir/running/GROUP.json from just before the first resource Start
// until every resource is stopped. It outlives the agent: an agent that
// crashed, was killed or restarted with a stale view of the log stops
// exactly what the record names (the spec it was built from, not the
// group's current spec), before anything else (safety clause 7).
type RunRecord struct {
	// Group and Epoch say which ownership the resources were started for.
	Group string `json:"group"`
	Epoch uint64 `json:"epoch"`
	// Resources is the spec the instance was built from.
	Resources []fsm.ResourceSpec `json:"resources"`
	// GaveUp is the failed report this node sent for Epoch: it never
	// starts the group again at that epoch and re-sends the report until
	// the log moves on (a report may commit late).
	GaveUp *fsm.Report `json:"gave_up,omitempty"`
	// Stopped is the offline report this node sent once a planned stop
	// at Epoch (or its shutdown) had stopped everything of the group
	// here: nothing of it runs here, and the next owner may already be
	// starting. An agent that restarts neither stops nor starts the
	// group until its log has passed Epoch, and re-sends the report
	// while its log shows the group here at Epoch (handedoff.go).
	Stopped *fsm.Report `json:"stopped,omitempty"`
}

// Records are the run records of one member, in data_dir/running.
type Records struct {
	// Dir is the directory the records live in.
	Dir string
}

// NewRecords returns the run records of the member whose data_dir is
// dataDir.
func NewRecords(dataDir string) Records { return Records{Dir: filepath.Join(dataDir, "running")} }

// Path is where group's record lives.
func (r Records) Path(group string) string {
	return filepath.Join(r.Dir, group+".json")
}

// Write stores rec durably: temp file, fsync, rename, fsync of the
// directory. A record that is not on disk when Start begins is a resource
// a crash could leave behind unnoticed.
func (r Records) Write(rec RunRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	if err := durable.WriteFile(r.Path(rec.Group), b, 0o600); err != nil {
		return fmt.Errorf("run record %s: %w", r.Path(rec.Group), err)
	}
	return nil
}

// Remove deletes group's record once nothing of it runs here.
func (r Records) Remove(group string) error {
	if err := durable.Remove(r.Path(group)); err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	return nil
}

// Read loads every run record left in data_dir. A record that
// cannot be read is an error: the agent must not start and forget what
// may still run.
func (r Records) Read() (map[string]RunRecord, error) {
	out := map[string]RunRecord{}
	ents, err := os.ReadDir(r.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run records: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") { // a temp file a crash left
			os.Remove(filepath.Join(r.Dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(r.Dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("run record %s: %w", path, err)
		}
		var rec RunRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("run record %s: %w (move it away only once you have made sure nothing of group %s runs on this node)", path, err, strings.TrimSuffix(name, ".json"))
		}
		out[rec.Group] = rec
	}
	return out, nil
}
