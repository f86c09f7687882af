package server

import (
	"strings"
	"testing"
)

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
