package server

import (
	"fmt"
	"os"
	"time"
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
	f, err := os.OpenFile(s.cfg.Fencing.Watchdog, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("fencing.watchdog %s: %w", s.cfg.Fencing.Watchdog, err)
	}
	return &watchdog{s: s, f: f}, nil
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
