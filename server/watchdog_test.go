package server

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
	c := newTestCluster(t, "n1").members[0].cfg
	c.Fencing.Watchdog = "/dev/watchdog"
	c.Fencing.StopDeadline = Duration(5 * time.Second)
	c.SetDefaults()
	if c.Fencing.WatchdogTimeout.D() != 5*time.Second {
		t.Fatalf("derived watchdog_timeout %s, want 5s", c.Fencing.WatchdogTimeout)
	}
	if errs := c.Validate(); errs != nil {
		t.Fatal(errs)
	}
	c.Fencing.WatchdogTimeout = Duration(6 * time.Second)
	errs := c.Validate()
	if len(errs) != 1 || errs[0].Path != "fencing.watchdog_timeout" || !strings.Contains(errs[0].Msg, "at most fencing.stop_deadline + the self-fence grace") {
		t.Fatalf("watchdog_timeout 6s with stop_deadline 5s: %v", errs)
	}
	c.Fencing.WatchdogTimeout = Duration(5 * time.Second)
	if err := c.checkWatchdogTimeout(6 * time.Second); !errors.Is(err, ErrWatchdogTimeout) {
		t.Fatalf("device keeping 6s: %v, want ErrWatchdogTimeout", err)
	}
	if err := c.checkWatchdogTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestWatchdogCharDeviceGetsItsTimeoutSet: on a character device raftha
// sets the timeout with WDIOC_SETTIMEOUT and refuses to start when it
// cannot (here /dev/null, which has no such ioctl); a plain file is fed
// without it, with a log line saying so.
func TestWatchdogCharDeviceGetsItsTimeoutSet(t *testing.T) {
	c := newTestCluster(t, "n1")
	m := c.members[0]
	m.cfg.Fencing.Watchdog = "/dev/null"
	s, err := New(m.cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "setting the timeout to 10s") {
		s.Kill()
		t.Fatalf("start with /dev/null as the watchdog: %v, want the WDIOC_SETTIMEOUT failure", err)
	}
}
