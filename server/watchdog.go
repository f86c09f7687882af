package server

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

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
	path := string(s.cfg.Fencing.Watchdog)
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
	if err := s.cfg.CheckWatchdogTimeout(have); err != nil {
		return err
	}
	s.logger.Info("watchdog armed", "path", path, "timeout", have)
	return nil
}

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
				w.s.logLimit.Log(w.s.logger, hclog.Error, "watchdog-write", "watchdog write failed", "device", w.s.cfg.Fencing.Watchdog, "error", err)
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
