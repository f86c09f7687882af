package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
)

// FencingMode is fencing.mode: how a lost owner is fenced before another
// node takes its groups over. It is the log's word (fsm.FencingMode),
// declared once.
type FencingMode = fsm.FencingMode

// Fencing modes.
const (
	// FencingAWSStop makes the winner stop the lost owner's EC2 instance
	// before it takes a group over.
	FencingAWSStop = fsm.FencingAWSStop
	// FencingLeaseOnly relies on the lost owner fencing itself when its
	// lease runs out; the winner waits instead of stopping it.
	FencingLeaseOnly = fsm.FencingLeaseOnly
)

// SelfFenceAction is fencing.self_fence_action: the hard action a member
// takes when its resources do not stop within fencing.stop_deadline after
// its lease ran out.
type SelfFenceAction string

// Self-fence actions.
const (
	// SelfFenceReboot reboots the host at once through the sysrq trigger.
	SelfFenceReboot SelfFenceAction = "reboot"
	// SelfFencePoweroff powers the host off at once through the sysrq
	// trigger.
	SelfFencePoweroff SelfFenceAction = "poweroff"
	// SelfFenceExit exits the agent (status 70).
	SelfFenceExit SelfFenceAction = "exit"
	// SelfFenceNone only logs: resources may keep running.
	SelfFenceNone SelfFenceAction = "none"
)

// WatchdogDevice is fencing.watchdog: the path of a watchdog device, or
// WatchdogNone.
type WatchdogDevice string

// WatchdogNone is the fencing.watchdog value that runs without a watchdog
// device, on purpose.
const WatchdogNone WatchdogDevice = "none"

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
func (c *Config) validateWatchdog() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	f := c.Fencing
	switch {
	case f.Watchdog == "" && c.Role == RoleNode && f.Mode == FencingLeaseOnly:
		errs = append(errs, &yamlstrict.FieldError{Path: "fencing.watchdog", Msg: fmt.Sprintf("required on a node with fencing.mode lease-only: name the watchdog device (e.g. /dev/watchdog), or write %q to run without one, accepting that a hung agent keeps its resources running while another node takes over", WatchdogNone)})
	case f.Watchdog != "" && f.Watchdog != WatchdogNone:
		if max := c.maxWatchdogTimeout(); f.WatchdogTimeout.D() > max {
			errs = append(errs, &yamlstrict.FieldError{Path: "fencing.watchdog_timeout", Msg: fmt.Sprintf("fencing.watchdog_timeout (%s) must be at most fencing.stop_deadline + the self-fence grace (%s + %s = %s): the device must reset this host before a lease-only winner may start", f.WatchdogTimeout, f.StopDeadline, selfFenceGrace, max)})
		} else if f.WatchdogTimeout.D() < time.Second || f.WatchdogTimeout.D()%time.Second != 0 {
			errs = append(errs, &yamlstrict.FieldError{Path: "fencing.watchdog_timeout", Msg: fmt.Sprintf("must be a whole number of seconds, at least 1s (watchdog devices count in seconds), got %s; raise fencing.stop_deadline to at least 1s to have one", f.WatchdogTimeout)})
		}
	}
	return errs
}

// CheckWatchdogTimeout refuses a device timeout (as read back from the
// device) longer than maxWatchdogTimeout.
func (c *Config) CheckWatchdogTimeout(have time.Duration) error {
	if max := c.maxWatchdogTimeout(); have > max {
		return fmt.Errorf("%w: fencing.watchdog %s keeps a timeout of %s after raftha set %s; the lease-only wait allows at most fencing.stop_deadline + the self-fence grace (%s): the device would reset this host after a winner may start", ErrWatchdogTimeout, c.Fencing.Watchdog, have, c.Fencing.WatchdogTimeout, max)
	}
	return nil
}

// ErrWatchdogTimeout is returned by CheckWatchdogTimeout (and so by the
// agent's Start) when the watchdog device's timeout is longer than the
// lease-only wait allows.
var ErrWatchdogTimeout = errors.New("watchdog timeout too long")
