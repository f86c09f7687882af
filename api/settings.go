package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SettingsRequest is the body of POST /v1/cluster/settings: the settings
// to change (omitted ones keep their value).
type SettingsRequest struct {
	// FencingMode is aws-stop or lease-only.
	FencingMode string `json:"fencing_mode,omitempty"`
	// Heartbeat is timing.heartbeat ("300ms").
	Heartbeat *Duration `json:"heartbeat,omitempty"`
	// Lease is timing.lease.
	Lease *Duration `json:"lease,omitempty"`
	// StopDeadline is fencing.stop_deadline.
	StopDeadline *Duration `json:"stop_deadline,omitempty"`
}

// SettingsView is the cluster settings as the API shows them.
type SettingsView struct {
	// FencingMode is aws-stop or lease-only.
	FencingMode string `json:"fencing_mode"`
	// Heartbeat is timing.heartbeat.
	Heartbeat Duration `json:"heartbeat"`
	// Lease is timing.lease.
	Lease Duration `json:"lease"`
	// StopDeadline is fencing.stop_deadline.
	StopDeadline Duration `json:"stop_deadline"`
	// LeaseOnlyWait is what a lease-only takeover waits.
	LeaseOnlyWait Duration `json:"lease_only_wait"`
	// Recorded is false while no leader has seeded the settings yet (the
	// view then shows this member's own).
	Recorded bool `json:"recorded"`
}

// Duration is a time.Duration that reads and writes Go duration strings
// ("500ms", "3s") in JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a JSON string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string holding a Go duration; bare numbers
// (which have no unit) and negative durations are refused.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration string like \"500ms\" or \"3s\", got %s", b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration reads a Go duration string, refusing bare numbers (which
// have no unit) and negative durations.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil || s == "" {
		return 0, fmt.Errorf("expected a duration like 500ms or 3s, got %q", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("expected a duration like 500ms or 3s, got %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %q", s)
	}
	return Duration(d), nil
}
