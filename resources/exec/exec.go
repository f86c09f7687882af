// Package exec is the `exec` resource: operator commands run through
// /bin/sh. It has two shapes:
//
//   - start/stop/check scripts that return (like CLUSTERPRO's exec
//     resource or an OCF script), and
//   - run: a long-running command raftha supervises itself (started in its
//     own process group, stopped with SIGTERM, then SIGKILL after the stop
//     timeout).
//
// Every command gets RAFTHA_GROUP, RAFTHA_NODE, RAFTHA_EPOCH and
// RAFTHA_RESOURCE in its environment: the epoch is the fencing token. A
// group's env cannot set them.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftha/raftha/resources"
)

// Params are the exec resource's YAML settings.
type Params struct {
	// Start runs to start the resource; it must return (background a
	// daemon yourself, or use Run).
	Start string `yaml:"start" json:"start,omitempty"`
	// Stop runs to stop the resource.
	Stop string `yaml:"stop" json:"stop,omitempty"`
	// Check runs to monitor the resource; exit 0 means healthy.
	Check string `yaml:"check" json:"check,omitempty"`
	// Run is a long-running command supervised by raftha.
	Run string `yaml:"run" json:"run,omitempty"`
	// Timeout bounds each start and check command (default 30s); a
	// command that overruns is killed with its process group.
	Timeout string `yaml:"timeout" json:"timeout,omitempty"`
	// StopTimeout bounds the stop command, or the wait between SIGTERM and
	// SIGKILL of a run command (default: min(timeout, the cluster's
	// fencing.stop_deadline)).
	StopTimeout string `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
	// Env adds variables to every command's environment.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Dir is the working directory (default /).
	Dir string `yaml:"dir" json:"dir,omitempty"`
}

// Validate implements resources.Validator.
func (p *Params) Validate() error { return errors.Join(p.checkBase(), p.checkEnv()) }

// checkBase is Validate without the env check (Build uses it).
func (p *Params) checkBase() error {
	var errs []error
	if p.Run == "" && p.Start == "" {
		errs = append(errs, errors.New("one of start or run is required"))
	}
	if p.Run != "" && (p.Start != "" || p.Stop != "") {
		errs = append(errs, errors.New("run cannot be combined with start/stop (raftha starts and stops a run command itself)"))
	}
	if err := resources.CheckDuration("timeout", p.Timeout, "30s"); err != nil {
		errs = append(errs, err)
	}
	if err := p.checkStopTimeout(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ErrReservedEnv refuses an env variable that raftha sets itself (the
// fencing token: RAFTHA_GROUP, RAFTHA_NODE, RAFTHA_EPOCH,
// RAFTHA_RESOURCE), which a group's env must not replace.
var ErrReservedEnv = errors.New("env: this variable is set by raftha (the fencing token) and cannot be overridden")

// tokenEnv are the variables environ sets from the token.
var tokenEnv = []string{"RAFTHA_GROUP", "RAFTHA_NODE", "RAFTHA_EPOCH", "RAFTHA_RESOURCE"}

func (p *Params) checkEnv() error {
	var bad []string
	for _, k := range tokenEnv {
		if _, ok := p.Env[k]; ok {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrReservedEnv, strings.Join(bad, ", "))
}

func (p *Params) timeout() time.Duration { return resources.DurationOr(p.Timeout, 30*time.Second) }

// Type is the exec resource type for a resources.Registry.
var Type = resources.Type{
	Name:      "exec",
	NewParams: func() any { return &Params{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*Params)
		if !ok {
			return nil, fmt.Errorf("exec: params of type %T", params)
		}
		// A group committed before RAFTHA_* env was refused still builds;
		// environ sets raftha's own variables last.
		if err := p.checkBase(); err != nil {
			return nil, err
		}
		return &Resource{p: *p, env: env, stopTimeout: resources.StopTimeoutOr(p.StopTimeout, p.timeout(), env.StopDeadline)}, nil
	},
}

// Resource is one exec resource instance.
type Resource struct {
	p           Params
	env         resources.Env
	stopTimeout time.Duration // stop_timeout, or min(timeout, stop_deadline)

	mu   sync.Mutex
	proc *osexec.Cmd
	done chan struct{}
	exit error
}

func (r *Resource) environ(tok resources.Token) []string {
	e := os.Environ()
	for k, v := range r.p.Env {
		e = append(e, k+"="+v)
	}
	// Last, so that they win over any of the same name (os/exec keeps the
	// last value of a duplicate key).
	return append(e,
		"RAFTHA_GROUP="+tok.Group,
		"RAFTHA_NODE="+tok.Node,
		"RAFTHA_EPOCH="+strconv.FormatUint(tok.Epoch, 10),
		"RAFTHA_RESOURCE="+tok.Resource,
	)
}

func (r *Resource) command(script string, tok resources.Token) *osexec.Cmd {
	c := osexec.Command("/bin/sh", "-c", script)
	c.Env = r.environ(tok)
	c.Dir = r.p.Dir
	if c.Dir == "" {
		c.Dir = "/"
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// runScript runs script to completion within limit and ctx, killing its
// whole process group if it overruns.
func (r *Resource) runScript(ctx context.Context, limit time.Duration, what, script string, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := r.command(script, tok)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			return fmt.Errorf("%s command failed (%v): %s", what, err, tail(out.String()))
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-waitErr
		return fmt.Errorf("%s command killed after %s: %w", what, limit, ctx.Err())
	}
}

// Start implements resources.Resource.
func (r *Resource) Start(ctx context.Context, tok resources.Token) error {
	if r.p.Run == "" {
		return r.runScript(ctx, r.p.timeout(), "start", r.p.Start, tok)
	}
	done, err := r.spawn(tok)
	if err != nil {
		return err
	}
	if err := r.waitUp(ctx, tok, done); err != nil {
		// Not up: leave nothing behind, the runner does not count it as
		// started.
		_ = r.Stop(context.Background(), tok)
		return err
	}
	return nil
}

// spawn starts the run command unless it already runs, and returns the
// channel closed when it exits.
func (r *Resource) spawn(tok resources.Token) (chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		select {
		case <-r.done:
		default:
			return r.done, nil // already running
		}
	}
	// A process an earlier agent started (and crashed without stopping)
	// goes first: never two copies.
	if err := r.stopRecorded(nil); err != nil {
		return nil, err
	}
	c := r.command(r.p.Run, tok)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	// Record it before Start returns, so that a Stop after a crash of this
	// agent finds it (see record.go); unrecorded, it must not run.
	if err := r.writeRecord(c.Process.Pid); err != nil {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
		return nil, err
	}
	done := make(chan struct{})
	r.proc, r.done, r.exit = c, done, nil
	go func() {
		err := c.Wait()
		r.mu.Lock()
		r.exit = err
		r.mu.Unlock()
		close(done)
	}()
	return done, nil
}

// waitUp verifies a run command is up before Start returns: with a check,
// until the check passes (within the timeout); without one, that the
// command is still running after a short grace period.
func (r *Resource) waitUp(ctx context.Context, tok resources.Token, done chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, r.p.timeout())
	defer cancel()
	exited := func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("run command exited during start: %v", r.exit)
	}
	if r.p.Check == "" {
		select {
		case <-done:
			return exited()
		case <-time.After(100 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var last error
	for {
		select {
		case <-done:
			return exited()
		default:
		}
		if last = r.runScript(ctx, r.p.timeout(), "check", r.p.Check, tok); last == nil {
			return nil
		}
		select {
		case <-done:
			return exited()
		case <-ctx.Done():
			return fmt.Errorf("run command started but its check did not pass within %s: %v", r.p.timeout(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop implements resources.Resource.
func (r *Resource) Stop(ctx context.Context, tok resources.Token) error {
	if r.p.Run == "" {
		if r.p.Stop == "" {
			return nil
		}
		return r.runScript(ctx, r.stopTimeout, "stop", r.p.Stop, tok)
	}
	r.mu.Lock()
	c, done := r.proc, r.done
	r.mu.Unlock()
	if c == nil {
		// Nothing in memory: stop what an earlier agent recorded, if it
		// still runs (the promise that Stop also runs when an agent starts).
		return r.stopRecorded(ctx.Done())
	}
	pg := -c.Process.Pid
	_ = syscall.Kill(pg, syscall.SIGTERM)
	t := time.NewTimer(r.stopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-done
	case <-ctx.Done():
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-done
	}
	// Whatever the leader left behind in the group goes too.
	_ = syscall.Kill(pg, syscall.SIGKILL)
	r.mu.Lock()
	r.proc = nil
	r.mu.Unlock()
	return r.removeRecord()
}

// Kill implements resources.Killer: SIGKILL to the run command's process
// group, without waiting.
func (r *Resource) Kill() {
	r.mu.Lock()
	c := r.proc
	r.mu.Unlock()
	if c != nil {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

// Check implements resources.Resource.
func (r *Resource) Check(ctx context.Context, tok resources.Token) error {
	if r.p.Run != "" {
		r.mu.Lock()
		c, done, exit := r.proc, r.done, r.exit
		r.mu.Unlock()
		if c == nil {
			return errors.New("not running")
		}
		select {
		case <-done:
			return fmt.Errorf("run command exited: %v", exit)
		default:
		}
	}
	if r.p.Check == "" {
		return nil
	}
	return r.runScript(ctx, r.p.timeout(), "check", r.p.Check, tok)
}

func tail(s string) string {
	const max = 400
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return string(bytes.TrimSpace([]byte(s)))
}
