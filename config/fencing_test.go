package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWatchdogTimeoutFitsTheLeaseOnlyWait: the derived default is
// stop_deadline + grace rounded down to seconds; a longer configured
// timeout, or a device that keeps a longer one, is refused.
func TestWatchdogTimeoutFitsTheLeaseOnlyWait(t *testing.T) {
	c, errs := ParseConfig([]byte(validConfigYAML))
	if errs != nil {
		t.Fatal(errs)
	}
	c.Fencing.Watchdog = "/dev/watchdog"
	c.Fencing.StopDeadline = Duration(5 * time.Second)
	c.Fencing.WatchdogTimeout = 0
	c.SetDefaults()
	if c.Fencing.WatchdogTimeout.D() != 5*time.Second {
		t.Fatalf("derived watchdog_timeout %s, want 5s", c.Fencing.WatchdogTimeout)
	}
	if errs := c.Validate(); errs != nil {
		t.Fatal(errs)
	}
	c.Fencing.WatchdogTimeout = Duration(6 * time.Second)
	errs = c.Validate()
	if len(errs) != 1 || errs[0].Path != "fencing.watchdog_timeout" || !strings.Contains(errs[0].Msg, "at most fencing.stop_deadline + the self-fence grace") {
		t.Fatalf("watchdog_timeout 6s with stop_deadline 5s: %v", errs)
	}
	c.Fencing.WatchdogTimeout = Duration(5 * time.Second)
	if err := c.CheckWatchdogTimeout(6 * time.Second); !errors.Is(err, ErrWatchdogTimeout) {
		t.Fatalf("device keeping 6s: %v, want ErrWatchdogTimeout", err)
	}
	if err := c.CheckWatchdogTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
