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
