package owner

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/server/internal/clock"
)

// WatchdogOptions are what a Watchdog reads.
type WatchdogOptions struct {
	// Path is fencing.watchdog; Timeout is fencing.watchdog_timeout.
	Path    string
	Timeout time.Duration
	// Check refuses a timeout the device kept that is too long for the
	// lease-only wait (config.Config.CheckWatchdogTimeout).
	Check func(time.Duration) error
	// Heartbeat is timing.heartbeat: how often the device is fed.
	Heartbeat time.Duration
	// Feed reports whether the device may be fed now: the lease is valid
	// and what an earlier run of the agent left has been stopped.
	Feed     func() bool
	Clock    clock.Clock
	Logger   hclog.Logger
	LogLimit *ratelog.Limiter
}

// Watchdog feeds a watchdog device (fencing.watchdog, e.g. /dev/watchdog)
// only while this member's lease is valid. A member that cannot renew its
// lease, or whose agent hangs, stops feeding it, and the device resets the
// machine after its own timeout. (The kernels on raftha's CI machines have
// no softdog; tests point it at a plain file and check the writes.)
type Watchdog struct {
	o WatchdogOptions
	f *os.File
}

// OpenWatchdog opens the device, sets its timeout and reads it back.
func OpenWatchdog(o WatchdogOptions) (*Watchdog, error) {
	if o.LogLimit == nil {
		o.LogLimit = &ratelog.Limiter{}
	}
	path := o.Path
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("fencing.watchdog %s: %w", path, err)
	}
	if err := setWatchdogTimeout(o, f); err != nil {
		// Opening armed the device: disarm it (magic close) before
		// refusing to start.
		_, _ = f.WriteString("V")
		_ = f.Close()
		return nil, err
	}
	return &Watchdog{o: o, f: f}, nil
}

// setWatchdogTimeout sets the device's timeout to fencing.watchdog_timeout
// and reads it back: a device that keeps a longer one (some round up,
// some ignore the request) would reset the host too late, so raftha
// refuses to start. A plain file (tests) has no timeout to set.
func setWatchdogTimeout(o WatchdogOptions, f *os.File) error {
	path, want := o.Path, o.Timeout
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fencing.watchdog %s: %w", path, err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		o.Logger.Info("fencing.watchdog is not a character device: not setting its timeout (WDIOC_SETTIMEOUT skipped)", "path", path, "watchdog_timeout", want)
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
	if err := o.Check(have); err != nil {
		return err
	}
	o.Logger.Info("watchdog armed", "path", path, "timeout", have)
	return nil
}

// Run feeds the device every heartbeat while Feed says so, until ctx
// ends; then, unless it was starving the device, it disarms it.
func (w *Watchdog) Run(ctx context.Context) {
	t := w.o.Clock.NewTimer(w.o.Heartbeat)
	defer t.Stop()
	defer w.f.Close()
	starved := false
	for {
		select {
		case <-ctx.Done():
			if !starved {
				// Magic close: a clean stop disarms the device.
				_, _ = w.f.WriteString("V")
			}
			return
		case <-t.C():
		}
		t.Reset(w.o.Heartbeat)
		// Fed only while the lease is valid and once what an earlier run
		// of the agent left has been stopped (a leftover that cannot be
		// stopped must end in a reset, not be kept alive by it).
		if w.o.Feed() {
			if _, err := w.f.WriteString("."); err != nil {
				w.o.LogLimit.Log(w.o.Logger, hclog.Error, "watchdog-write", "watchdog write failed", "device", w.o.Path, "error", err)
			}
			if starved {
				w.o.Logger.Info("lease valid again: feeding the watchdog")
			}
			starved = false
		} else if !starved {
			starved = true
			w.o.Logger.Warn("lease expired: no longer feeding the watchdog", "device", w.o.Path)
		}
	}
}
