package resources

import (
	"fmt"
	"time"
)

// CheckDuration validates an optional duration parameter: nil when s is
// empty or a positive Go duration, otherwise an error naming key that
// shows example ("30s") as the expected form.
func CheckDuration(key, s, example string) error {
	if s == "" {
		return nil
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		return fmt.Errorf("%s: expected a positive duration like %s, got %q", key, example, s)
	}
	return nil
}

// DurationOr returns s as a duration, or def when s is empty or not a
// positive duration (Validate refuses those before a resource is built).
func DurationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// StopTimeoutOr returns how long a Stop may take: stopTimeout (a type's
// stop_timeout parameter) when set, else timeout (the type's bound on
// start and check) capped by stopDeadline, the cluster's
// fencing.stop_deadline (Env.StopDeadline; 0 means unknown: no cap). Like
// Pacemaker's per-operation timeouts, this lets a slow start keep a long
// timeout while the stop still fits in a self-fence.
func StopTimeoutOr(stopTimeout string, timeout, stopDeadline time.Duration) time.Duration {
	if d := DurationOr(stopTimeout, 0); d > 0 {
		return d
	}
	if stopDeadline > 0 && stopDeadline < timeout {
		return stopDeadline
	}
	return timeout
}
