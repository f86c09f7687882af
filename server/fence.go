package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	awsres "github.com/raftha/raftha/resources/aws"
)

// Fencer stops a lost owner before the winner of a takeover starts
// anything (safety argument, clause 4). Fence returns nil only when the
// node can no longer act: for EC2, when its instance is stopped or
// terminated.
type Fencer interface {
	Fence(ctx context.Context, node fsm.Member) error
}

// FencerFunc adapts a function to Fencer.
type FencerFunc func(ctx context.Context, node fsm.Member) error

// Fence implements Fencer.
func (f FencerFunc) Fence(ctx context.Context, node fsm.Member) error { return f(ctx, node) }

// ErrFenceFailed is wrapped by every fencing failure.
var ErrFenceFailed = awsres.ErrFenceFailed

// VerifyingFencer is a Fencer that first verifies that the instance it
// stops is the node's and says how; the winner records that in the fenced
// event. The default EC2 fencer is one.
type VerifyingFencer interface {
	Fencer
	// FenceVerified fences node like Fence and returns what it verified
	// ("i-1 verified by tag raftha:node=n1").
	FenceVerified(ctx context.Context, node fsm.Member) (string, error)
}

// ec2Fencer force-stops the node's instance through the EC2 API, after
// verifying it is the node's (tag raftha:node or private IP).
type ec2Fencer struct{ f *awsres.Fencer }

// Fence implements Fencer.
func (e ec2Fencer) Fence(ctx context.Context, node fsm.Member) error {
	_, err := e.FenceVerified(ctx, node)
	return err
}

// FenceVerified implements VerifyingFencer: it verifies that node's
// instance carries the tag raftha:node=node.ID or has node's address host
// as a private IP, force-stops it and waits until it is stopped or
// terminated.
func (e ec2Fencer) FenceVerified(ctx context.Context, node fsm.Member) (string, error) {
	return e.f.Fence(ctx, ec2Target(node))
}

// ec2Target is the aws fence target for node: its instance id, its id (for
// the raftha:node tag) and its address host (for the private IP).
func ec2Target(node fsm.Member) awsres.Target {
	host, _, err := net.SplitHostPort(node.Address)
	if err != nil {
		host = node.Address
	}
	return awsres.Target{InstanceID: node.InstanceID, NodeID: node.ID, Host: host}
}

// setupAWS builds the process's single aws.Config on a node that needs
// AWS (aws-stop fencing, or an aws.region for AWS resources), resolves
// instance_id auto through IMDSv2, and builds the default fencer.
func (s *Server) setupAWS(ctx context.Context) error {
	if s.cfg.AWS.InstanceID == "auto" {
		id, err := awsres.InstanceID(ctx, s.cfg.AWS.CallTimeout.D())
		if err != nil {
			return err
		}
		s.instance = id
		s.logger.Info("instance id from IMDSv2", "instance_id", id)
	} else {
		s.instance = s.cfg.AWS.InstanceID
	}
	if s.cfg.Role != config.RoleNode {
		return nil // a witness needs no AWS data-plane access
	}
	needFencer := s.fencer == nil && s.cfg.Fencing.Mode == config.FencingAWSStop
	if !needFencer && s.cfg.AWS.Region == "" && s.cfg.AWS.Endpoint == "" {
		return nil // not on AWS: AWS resource types will refuse to build
	}
	cfg, err := awsres.LoadConfig(ctx, awsres.Settings{Region: s.cfg.AWS.Region, Endpoint: s.cfg.AWS.Endpoint, Observe: s.metrics.observeAWS})
	if err != nil {
		return err
	}
	s.awsCfg = &cfg
	if !needFencer {
		return nil
	}
	f := awsres.NewFencer(cfg)
	f.CallTimeout, f.StopTimeout = s.cfg.AWS.CallTimeout.D(), s.cfg.Fencing.StopTimeout.D()
	s.fencer = ec2Fencer{f: f}
	return nil
}

// fenceBackoff is the delay before fencing attempt n (1-based) is retried.
func fenceBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
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
