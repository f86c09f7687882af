// Package systemd is the `systemd` resource: a unit started on the group's
// owner and stopped elsewhere, like a CLUSTERPRO service resource or
// Pacemaker's systemd: class.
//
// Start runs `systemctl start UNIT` and then requires `systemctl is-active
// UNIT` to print "active" (waiting, within timeout, while the unit is
// still activating). Stop (bounded by stop_timeout, default min(timeout,
// fencing.stop_deadline)) runs `systemctl stop UNIT` and then requires
// is-active not to be active (inactive, failed or unknown are all fine,
// so stopping a unit that is not loaded succeeds). Check requires
// is-active to print "active" (or "reloading", a running unit reloading
// its configuration).
//
// The unit does not receive the fencing token (RAFTHA_GROUP, RAFTHA_NODE,
// RAFTHA_EPOCH): systemd starts it from its own environment. A service
// that needs the epoch should be run by the exec resource instead, or read
// it from raftha's API.
//
// The unit should not be enabled to start at boot: raftha decides where it
// runs. A timed-out systemctl is killed with its process group, but the
// job it queued in systemd is not cancelled.
package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// Params are the systemd resource's YAML settings.
type Params struct {
	// Unit is the unit to manage, e.g. postgresql.service (required).
	Unit string `yaml:"unit" json:"unit,omitempty"`
	// Systemctl is the systemctl binary: a name looked up in PATH or an
	// absolute path (default systemctl).
	Systemctl string `yaml:"systemctl" json:"systemctl,omitempty"`
	// Timeout bounds each Start and Check, including waiting for the unit
	// to settle (default 90s, systemd's default start timeout).
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
	// StopTimeout bounds each Stop, including waiting for the unit to
	// settle (default: min(timeout, the cluster's fencing.stop_deadline)).
	StopTimeout string `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
}

// Unit names: ASCII letters, digits, ":-_.\" and "@" (systemd.unit(5)).
var unitRe = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+$`)

// Validate implements resources.Validator.
func (p *Params) Validate() error {
	var errs []error
	switch {
	case p.Unit == "":
		errs = append(errs, errors.New("unit is required (e.g. postgresql.service)"))
	case len(p.Unit) > 255 || !unitRe.MatchString(p.Unit) || strings.HasPrefix(p.Unit, "-"):
		errs = append(errs, fmt.Errorf("unit: %q is not a systemd unit name", p.Unit))
	}
	if p.Systemctl != "" && strings.Contains(p.Systemctl, "/") && !filepath.IsAbs(p.Systemctl) {
		errs = append(errs, fmt.Errorf("systemctl: expected a command name or an absolute path, got %q", p.Systemctl))
	}
	if err := resources.CheckDuration("timeout", p.Timeout, "90s"); err != nil {
		errs = append(errs, err)
	}
	if err := resources.CheckDuration("stop_timeout", p.StopTimeout, "10s"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Type is the systemd resource type for a resources.Registry.
var Type = resources.Type{
	Name:      "systemd",
	NewParams: func() any { return &Params{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*Params)
		if !ok {
			return nil, fmt.Errorf("systemd: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		timeout := resources.DurationOr(p.Timeout, 90*time.Second)
		r := &Resource{p: *p, log: env.Logger, systemctl: p.Systemctl, timeout: timeout,
			stopTimeout: resources.StopTimeoutOr(p.StopTimeout, timeout, env.StopDeadline)}
		if r.systemctl == "" {
			r.systemctl = "systemctl"
		}
		if r.log == nil {
			r.log = hclog.NewNullLogger()
		}
		return r, nil
	},
}

// Resource is one systemd resource instance.
type Resource struct {
	p           Params
	log         hclog.Logger
	systemctl   string
	timeout     time.Duration
	stopTimeout time.Duration // stop_timeout, or min(timeout, stop_deadline)
}

// pollInterval is how often is-active is asked while a unit settles.
const pollInterval = 200 * time.Millisecond

// result is one systemctl run.
type result struct {
	stdout string // trimmed
	output string // stdout then stderr, trimmed, for messages
	err    error  // nil on exit status 0
}

// run runs systemctl args... under ctx, in its own process group which is
// killed if ctx ends.
func (r *Resource) run(ctx context.Context, args ...string) result {
	c := osexec.CommandContext(ctx, r.systemctl, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	res := result{stdout: strings.TrimSpace(stdout.String()), output: tail(stdout.String() + "\n" + stderr.String())}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.err = fmt.Errorf("systemctl %s: no answer in time: %w", strings.Join(args, " "), ctx.Err())
	case errors.Is(err, osexec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		res.err = fmt.Errorf("systemctl %s: %s not found (is this a systemd host?): %w", strings.Join(args, " "), r.systemctl, err)
	default:
		res.err = fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
		if res.output != "" {
			res.err = fmt.Errorf("%w: %s", res.err, res.output)
		}
	}
	return res
}

// activeState returns what `systemctl is-active UNIT` prints. is-active
// exits non-zero for every state but active, so its exit status alone is
// not an error; no output at all is (systemd unreachable).
func (r *Resource) activeState(ctx context.Context) (string, error) {
	res := r.run(ctx, "is-active", r.p.Unit)
	if res.err != nil && ctx.Err() != nil {
		return "", res.err
	}
	state, _, _ := strings.Cut(res.stdout, "\n")
	state = strings.TrimSpace(state)
	if state == "" {
		if res.err != nil {
			return "", res.err
		}
		return "", fmt.Errorf("systemctl is-active %s printed nothing", r.p.Unit)
	}
	return state, nil
}

// settle polls is-active while the unit is in a transitional state and
// returns the first settled state; limit is ctx's bound, for messages.
func (r *Resource) settle(ctx context.Context, limit time.Duration, transitional ...string) (string, error) {
	for {
		state, err := r.activeState(ctx)
		if err != nil {
			return "", err
		}
		wait := false
		for _, t := range transitional {
			if state == t {
				wait = true
			}
		}
		if !wait {
			return state, nil
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return state, fmt.Errorf("unit %s still %s after %s: %w", r.p.Unit, state, limit, ctx.Err())
		case <-t.C:
		}
	}
}

// Start implements resources.Resource.
func (r *Resource) Start(ctx context.Context, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.log.Info("starting unit", "unit", r.p.Unit, "group", tok.Group, "epoch", tok.Epoch)
	if res := r.run(ctx, "start", "--no-ask-password", r.p.Unit); res.err != nil {
		return res.err
	}
	state, err := r.settle(ctx, r.timeout, "activating", "reloading", "refreshing")
	if err != nil {
		return err
	}
	if state != "active" {
		return fmt.Errorf("unit %s is %s after systemctl start (see journalctl -u %s)", r.p.Unit, state, r.p.Unit)
	}
	return nil
}

// Stop implements resources.Resource.
func (r *Resource) Stop(ctx context.Context, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, r.stopTimeout)
	defer cancel()
	r.log.Info("stopping unit", "unit", r.p.Unit, "group", tok.Group, "epoch", tok.Epoch)
	stop := r.run(ctx, "stop", "--no-ask-password", r.p.Unit)
	if stop.err != nil && ctx.Err() != nil {
		return stop.err
	}
	state, err := r.settle(ctx, r.stopTimeout, "deactivating")
	if err != nil {
		return errors.Join(stop.err, err)
	}
	switch state {
	case "active", "activating", "reloading", "refreshing":
		if stop.err != nil {
			return fmt.Errorf("%w (unit is still %s)", stop.err, state)
		}
		return fmt.Errorf("unit %s is still %s after systemctl stop", r.p.Unit, state)
	}
	if stop.err != nil {
		// E.g. "Unit foo.service not loaded.": not running is what we want.
		r.log.Warn("systemctl stop failed but the unit is not active", "unit", r.p.Unit, "state", state, "error", stop.err)
	}
	return nil
}

// Check implements resources.Resource.
func (r *Resource) Check(ctx context.Context, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	state, err := r.activeState(ctx)
	if err != nil {
		return err
	}
	switch state {
	case "active", "reloading":
		return nil
	}
	return fmt.Errorf("unit %s is %s", r.p.Unit, state)
}

// Kill implements resources.Killer: `systemctl kill --signal=SIGKILL UNIT`
// (every process of the unit), bounded to 10s, to simulate a crash.
func (r *Resource) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res := r.run(ctx, "kill", "--signal=SIGKILL", r.p.Unit); res.err != nil {
		r.log.Warn("kill failed", "unit", r.p.Unit, "error", res.err)
	}
}

func tail(s string) string {
	const max = 400
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
