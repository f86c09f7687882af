package server

import (
	"context"
	"errors"
	"fmt"
	"os"

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

// exit ends the process (self_fence_action exit). Embedders and tests can
// replace it through Options.Exit.
func (s *Server) exit(code int) {
	if s.exitFn != nil {
		s.exitFn(code)
		return
	}
	os.Exit(code)
}
