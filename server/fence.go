package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// Fencer stops a lost owner before the winner of a takeover starts
// anything (safety argument, clause 4). Fence returns nil only when the
// node can no longer act: for EC2, when its instance is stopped or
// terminated.
type Fencer = cloud.Fencer

// FencerFunc adapts a function to Fencer.
type FencerFunc func(ctx context.Context, node fsm.Member) error

// Fence implements Fencer.
func (f FencerFunc) Fence(ctx context.Context, node fsm.Member) error { return f(ctx, node) }

// ErrFenceFailed is wrapped by every fencing failure.
var ErrFenceFailed = cloud.ErrFenceFailed

// VerifyingFencer is a Fencer that first verifies that the instance it
// stops is the node's and says how; the winner records that in the fenced
// event. The EC2 fencer (resources/aws.Provider) is one.
type VerifyingFencer = cloud.VerifyingFencer

// errNoCloud refuses a configuration that needs a cloud provider when
// Options.Cloud is nil.
var errNoCloud = errors.New("no cloud provider")

// needsCloud says why cfg needs a cloud provider ("" when it does not),
// given the embedder's fencer.
func needsCloud(cfg config.Config, fencer Fencer) string {
	switch {
	case cfg.AWS.InstanceID == "auto":
		return "aws.instance_id auto is read from the EC2 instance metadata"
	case cfg.Role != config.RoleNode:
		return ""
	case fencer == nil && cfg.Fencing.Mode == config.FencingAWSStop:
		return "fencing.mode aws-stop force-stops a lost owner through the EC2 API"
	case cfg.AWS.Region != "" || cfg.AWS.Endpoint != "":
		return "aws.region/aws.endpoint are set for AWS resource types"
	}
	return ""
}

// checkCloud refuses, at New, a configuration that needs a cloud provider
// when Options.Cloud is nil, naming the setting and the fix.
func checkCloud(cfg config.Config, opts Options) error {
	if opts.Cloud != nil {
		return nil
	}
	if why := needsCloud(cfg, opts.Fencer); why != "" {
		return fmt.Errorf("%w: %s: set Options.Cloud to aws.Provider{} (package github.com/raftha/raftha/resources/aws; the raftha agent always does)", errNoCloud, why)
	}
	return nil
}

// setupCloud opens the member's cloud provider once at Start: its
// instance id, the default fencer (aws-stop without Options.Fencer) and
// what cloud resource types read. Without a provider (checkCloud allowed
// it), the instance id is the configured one.
func (s *Server) setupCloud(ctx context.Context) error {
	s.instance = s.cfg.AWS.InstanceID
	if s.cloud == nil {
		return nil
	}
	env, err := s.cloud.Open(ctx, cloud.Request{
		AWS: s.cfg.AWS, Role: s.cfg.Role,
		NeedFencer:       s.fencer == nil && s.cfg.Fencing.Mode == config.FencingAWSStop && s.cfg.Role == config.RoleNode,
		FenceStopTimeout: s.cfg.Fencing.StopTimeout.D(),
		Observe:          s.metrics.observeCloud,
		Logger:           s.logger,
	})
	if err != nil {
		return err
	}
	s.instance = env.InstanceID
	s.cloudRes = env.Resources
	s.perm.checks = env.Permissions
	if s.fencer == nil && env.Fencer != nil {
		s.fencer = env.Fencer
	}
	return nil
}

// fenceBackoff is the delay before fencing attempt n (1-based) is retried.
func fenceBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
}

// fenceRetryUnavailable is the most a fence waits before it is tried
// again after a failure of the cloud's API to serve it
// (cloud.ErrUnavailable): such a try has spent its calls retrying
// already, and the API may answer again at any moment.
const fenceRetryUnavailable = 250 * time.Millisecond

// fenceRetryDelay is the delay before a fence that failed with err (its
// n-th failure in a row) is tried again: fenceBackoff, but at most
// fenceRetryUnavailable when the API did not serve it. Such a failure is
// never quick (its calls retried until their deadline), so the tries
// stay spaced by at least a call's deadline.
func fenceRetryDelay(n int, err error) time.Duration {
	if errors.Is(err, cloud.ErrUnavailable) {
		return min(fenceBackoff(n), fenceRetryUnavailable)
	}
	return fenceBackoff(n)
}

// selfFenceAction takes the configured hard action after a failed or hung
// self-fence stop. reboot and poweroff write b or o to the sysrq trigger
// (immediate, no sync: the point is to stop acting now).
func (s *Server) selfFenceAction(why string) {
	action := s.cfg.Fencing.SelfFenceAction
	s.logger.Error("self-fence: resources did not stop cleanly; taking the hard action", "action", action, "why", why)
	switch action {
	case config.SelfFenceReboot, config.SelfFencePoweroff:
		b := "b"
		if action == config.SelfFencePoweroff {
			b = "o"
		}
		if err := writeSysrq(s.cfg.Fencing.SysrqTrigger, b); err != nil {
			s.logger.Error("self-fence: sysrq trigger failed; exiting instead", "trigger", s.cfg.Fencing.SysrqTrigger, "error", err)
			s.exit(70)
		}
	case config.SelfFenceExit:
		s.exit(70)
	case config.SelfFenceNone:
		s.logger.Error("self-fence: self_fence_action none: resources may still be running on this node")
	}
}

func writeSysrq(path, b string) error {
	// Never create it: a mistyped path must fail (and fall back to exit),
	// not write a harmless file and carry on.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// exit ends the process (self_fence_action exit). Embedders and tests can
// replace it through Options.Exit.
func (s *Server) exit(code int) {
	if s.exitFn != nil {
		s.exitFn(code)
		return
	}
	os.Exit(code)
}

// errNoFencer is returned when aws-stop is configured but no fencer exists.
var errNoFencer = errors.New("no fencer configured")

// fenceNode runs the configured fencer against node (one instance id)
// and returns what the fencer verified, if it says.
func (s *Server) fenceNode(ctx context.Context, node fsm.Member) (string, error) {
	if s.fencer == nil {
		return "", fmt.Errorf("%w: %w", ErrFenceFailed, errNoFencer)
	}
	if node.InstanceID != "" && node.InstanceID == s.instance {
		return "", fmt.Errorf("%w: refusing to fence %s: its instance id %s is this node's own", ErrFenceFailed, node.ID, node.InstanceID)
	}
	if vf, ok := s.fencer.(VerifyingFencer); ok {
		return vf.FenceVerified(ctx, node)
	}
	return "", s.fencer.Fence(ctx, node)
}
