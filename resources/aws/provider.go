package aws

import (
	"context"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// Provider is raftha's AWS cloud.Provider: the instance id (aws.instance_id,
// or "auto" through IMDSv2), the process's aws.Config (with the endpoint
// override and retry policy of LoadConfig) that the AWS resource types
// read from resources.Env.Cloud, and the EC2 fencer. The `raftha` agent
// always uses it; a Go service sets server.Options.Cloud to Provider{}
// when it fences with aws-stop or uses AWS resource types.
type Provider struct{}

// Open implements cloud.Provider.
func (Provider) Open(ctx context.Context, req cloud.Request) (*cloud.Env, error) {
	env := &cloud.Env{InstanceID: req.AWS.InstanceID}
	if req.AWS.InstanceID == "auto" {
		id, err := InstanceID(ctx, req.AWS.CallTimeout.D())
		if err != nil {
			return nil, err
		}
		env.InstanceID = id
		if req.Logger != nil {
			req.Logger.Info("instance id from IMDSv2", "instance_id", id)
		}
	}
	if req.Role != config.RoleNode {
		return env, nil // a witness needs no AWS data-plane access
	}
	if !req.NeedFencer && req.AWS.Region == "" && req.AWS.Endpoint == "" {
		return env, nil // not on AWS: AWS resource types will refuse to build
	}
	var observe func(service, op string, err error, d time.Duration)
	if req.Observe != nil {
		observe = func(service, op string, err error, d time.Duration) {
			outcome := "ok"
			if err != nil {
				outcome = ErrorCode(err)
			}
			req.Observe(service, op, outcome, d)
		}
	}
	cfg, err := LoadConfig(ctx, Settings{Region: req.AWS.Region, Endpoint: req.AWS.Endpoint, Observe: observe})
	if err != nil {
		return nil, err
	}
	env.Resources = &cfg
	env.Permissions = NewPermissions(ec2.NewFromConfig(cfg), CheckPolicy{CallTimeout: req.AWS.CallTimeout.D()})
	if req.NeedFencer {
		f := NewFencer(cfg)
		f.CallTimeout, f.StopTimeout = req.AWS.CallTimeout.D(), req.FenceStopTimeout
		env.Fencer = ec2Fencer{f: f}
	}
	return env, nil
}

// ec2Fencer is a cloud.VerifyingFencer that force-stops the node's
// instance through the EC2 API, after verifying it is the node's (tag
// raftha:node or private IP).
type ec2Fencer struct{ f *Fencer }

// Fence implements cloud.Fencer.
func (e ec2Fencer) Fence(ctx context.Context, node fsm.Member) error {
	_, err := e.FenceVerified(ctx, node)
	return err
}

// FenceVerified implements cloud.VerifyingFencer: it verifies that node's
// instance carries the tag raftha:node=node.ID or has node's address host
// as a private IP, force-stops it and waits until it is stopped or
// terminated.
func (e ec2Fencer) FenceVerified(ctx context.Context, node fsm.Member) (string, error) {
	return e.f.Fence(ctx, TargetOf(node))
}

// TargetOf is the fence target for node: its instance id, its id (for the
// raftha:node tag) and its address host (for the private IP).
func TargetOf(node fsm.Member) Target {
	host, _, err := net.SplitHostPort(node.Address)
	if err != nil {
		host = node.Address
	}
	return Target{InstanceID: node.InstanceID, NodeID: node.ID, Host: host}
}

// ConfigOf is the *aws.Config that Provider put in env.Cloud, or nil.
func ConfigOf(env resources.Env) *aws.Config {
	cfg, _ := env.Cloud.(*aws.Config)
	return cfg
}
