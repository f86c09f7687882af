package server

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

// runRecord is what this node may have running for one group, kept in
// data_dir/running/GROUP.json from just before the first resource Start
// until every resource is stopped. It outlives the agent: an agent that
// crashed, was killed or restarted with a stale view of the log stops
// exactly what the record names (the spec it was built from, not the
// group's current spec), before anything else (safety clause 7).
type runRecord struct {
	// Group and Epoch say which ownership the resources were started for.
	Group string `json:"group"`
	Epoch uint64 `json:"epoch"`
	// Resources is the spec the instance was built from.
	Resources []fsm.ResourceSpec `json:"resources"`
	// GaveUp is the failed report this node sent for Epoch: it never
	// starts the group again at that epoch and re-sends the report until
	// the log moves on (a report may commit late).
	GaveUp *fsm.Report `json:"gave_up,omitempty"`
}

// recordDir is where run records live.
func (s *Server) recordDir() string { return filepath.Join(s.cfg.DataDir, "running") }

func (s *Server) recordPath(group string) string {
	return filepath.Join(s.recordDir(), group+".json")
}

// writeRecord stores rec durably: temp file, fsync, rename, fsync of the
// directory. A record that is not on disk when Start begins is a resource
// a crash could leave behind unnoticed.
func (s *Server) writeRecord(rec runRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	if err := durable.WriteFile(s.recordPath(rec.Group), b, 0o600); err != nil {
		return fmt.Errorf("run record %s: %w", s.recordPath(rec.Group), err)
	}
	return nil
}

// removeRecord deletes group's record once nothing of it runs here.
func (s *Server) removeRecord(group string) error {
	if err := durable.Remove(s.recordPath(group)); err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	return nil
}

// readRecords loads every run record left in data_dir. A record that
// cannot be read is an error: the agent must not start and forget what
// may still run.
func (s *Server) readRecords() (map[string]runRecord, error) {
	out := map[string]runRecord{}
	ents, err := os.ReadDir(s.recordDir())
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run records: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") { // a temp file a crash left
			os.Remove(filepath.Join(s.recordDir(), name))
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(s.recordDir(), name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("run record %s: %w", path, err)
		}
		var rec runRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("run record %s: %w (move it away only once you have made sure nothing of group %s runs on this node)", path, err, strings.TrimSuffix(name, ".json"))
		}
		out[rec.Group] = rec
	}
	return out, nil
}
