package server

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// WatchdogNone is the fencing.watchdog value that runs without a watchdog
// device, on purpose.
const WatchdogNone = "none"

// maxWatchdogTimeout is the longest watchdog device timeout the lease-only
// wait allows. The watchdog is fed only while the lease is valid, so its
// last feed is at most at lease expiry, L0 + lease (L0: when the owner
// sent its last confirmed heartbeat), and the device resets the host by
// that feed + timeout. A winner may start at L0 + LeaseOnlyWait = L0 +
// lease + stop_deadline + selfFenceGrace + heartbeat margin. So the reset
// must come no later than the self-fence hard action would:
//
//	timeout <= LeaseOnlyWait - lease - heartbeat margin = stop_deadline + selfFenceGrace
//
// keeping the heartbeat margin for clock-rate drift and the reset itself.
func (c *Config) maxWatchdogTimeout() time.Duration {
	return c.Fencing.StopDeadline.D() + selfFenceGrace
}

// validateWatchdog checks fencing.watchdog and fencing.watchdog_timeout: a
// lease-only node must name a device or choose none explicitly, and the
// timeout must fit inside the lease-only wait.
func (c *Config) validateWatchdog() ErrorList {
	var errs ErrorList
	f := c.Fencing
	switch {
	case f.Watchdog == "" && c.Role == RoleNode && f.Mode == FencingLeaseOnly:
		errs = append(errs, &FieldError{Path: "fencing.watchdog", Msg: fmt.Sprintf("required on a node with fencing.mode lease-only: name the watchdog device (e.g. /dev/watchdog), or write %q to run without one, accepting that a hung agent keeps its resources running while another node takes over", WatchdogNone)})
	case f.Watchdog != "" && f.Watchdog != WatchdogNone:
		if max := c.maxWatchdogTimeout(); f.WatchdogTimeout.D() > max {
			errs = append(errs, &FieldError{Path: "fencing.watchdog_timeout", Msg: fmt.Sprintf("fencing.watchdog_timeout (%s) must be at most fencing.stop_deadline + the self-fence grace (%s + %s = %s): the device must reset this host before a lease-only winner may start", f.WatchdogTimeout, f.StopDeadline, selfFenceGrace, max)})
		} else if f.WatchdogTimeout.D() < time.Second || f.WatchdogTimeout.D()%time.Second != 0 {
			errs = append(errs, &FieldError{Path: "fencing.watchdog_timeout", Msg: fmt.Sprintf("must be a whole number of seconds, at least 1s (watchdog devices count in seconds), got %s; raise fencing.stop_deadline to at least 1s to have one", f.WatchdogTimeout)})
		}
	}
	return errs
}

// watchdog feeds a watchdog device (fencing.watchdog, e.g. /dev/watchdog)
// only while this member's lease is valid. A member that cannot renew its
// lease, or whose agent hangs, stops feeding it, and the device resets the
// machine after its own timeout. (The kernels on raftha's CI machines have
// no softdog; tests point it at a plain file and check the writes.)
type watchdog struct {
	s *Server
	f *os.File
}

func openWatchdog(s *Server) (*watchdog, error) {
	path := s.cfg.Fencing.Watchdog
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("fencing.watchdog %s: %w", path, err)
	}
	if err := setWatchdogTimeout(s, f); err != nil {
		// Opening armed the device: disarm it (magic close) before
		// refusing to start.
		_, _ = f.WriteString("V")
		_ = f.Close()
		return nil, err
	}
	return &watchdog{s: s, f: f}, nil
}

// setWatchdogTimeout sets the device's timeout to fencing.watchdog_timeout
// and reads it back: a device that keeps a longer one (some round up,
// some ignore the request) would reset the host too late, so raftha
// refuses to start. A plain file (tests) has no timeout to set.
func setWatchdogTimeout(s *Server, f *os.File) error {
	path, want := s.cfg.Fencing.Watchdog, s.cfg.Fencing.WatchdogTimeout.D()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fencing.watchdog %s: %w", path, err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		s.logger.Info("fencing.watchdog is not a character device: not setting its timeout (WDIOC_SETTIMEOUT skipped)", "path", path, "watchdog_timeout", want)
		return nil
	}
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, int(want/time.Second)); err != nil {
		return fmt.Errorf("fencing.watchdog %s: setting the timeout to %s: %w", path, want, err)
	}
	got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		return fmt.Errorf("fencing.watchdog %s: reading the timeout back: %w", path, err)
	}
	have := time.Duration(got) * time.Second
	if err := s.cfg.checkWatchdogTimeout(have); err != nil {
		return err
	}
	s.logger.Info("watchdog armed", "path", path, "timeout", have)
	return nil
}

// checkWatchdogTimeout refuses a device timeout (as read back from the
// device) longer than maxWatchdogTimeout.
func (c *Config) checkWatchdogTimeout(have time.Duration) error {
	if max := c.maxWatchdogTimeout(); have > max {
		return fmt.Errorf("%w: fencing.watchdog %s keeps a timeout of %s after raftha set %s; the lease-only wait allows at most fencing.stop_deadline + the self-fence grace (%s): the device would reset this host after a winner may start", ErrWatchdogTimeout, c.Fencing.Watchdog, have, c.Fencing.WatchdogTimeout, max)
	}
	return nil
}

// ErrWatchdogTimeout is returned by Start when the watchdog device's
// timeout is longer than the lease-only wait allows.
var ErrWatchdogTimeout = errors.New("watchdog timeout too long")

func (w *watchdog) run() {
	t := time.NewTicker(w.s.cfg.Timing.Heartbeat.D())
	defer t.Stop()
	defer w.f.Close()
	starved := false
	for {
		select {
		case <-w.s.ctx.Done():
			if !starved {
				// Magic close: a clean stop disarms the device.
				_, _ = w.f.WriteString("V")
			}
			return
		case <-t.C:
		}
		// Fed only while the lease is valid and once what an earlier run
		// of the agent left has been stopped (a leftover that cannot be
		// stopped must end in a reset, not be kept alive by it).
		if w.s.lease.remaining() > 0 && (w.s.runner == nil || w.s.runner.cleanedUp()) {
			if _, err := w.f.WriteString("."); err != nil {
				w.s.logger.Error("watchdog write failed", "device", w.s.cfg.Fencing.Watchdog, "error", err)
			}
			if starved {
				w.s.logger.Info("lease valid again: feeding the watchdog")
			}
			starved = false
		} else if !starved {
			starved = true
			w.s.logger.Warn("lease expired: no longer feeding the watchdog", "device", w.s.cfg.Fencing.Watchdog)
		}
	}
}
