package aws

import (
	"context"
	"errors"
	"fmt"
	"github.com/raftha/raftha/cloud"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Fencer force-stops EC2 instances: the winner of a takeover fences the
// lost owner with it before starting anything.
type Fencer struct {
	client *ec2.Client
	// CallTimeout bounds each API call (default 10s).
	CallTimeout time.Duration
	// StopTimeout bounds the wait for the instance to be stopped
	// (default 5m: a real force stop can take a minute or more).
	StopTimeout time.Duration
	// AttemptTimeout bounds each attempt of a call (default
	// DefaultAttemptTimeout): a hung attempt is abandoned and retried at
	// once; a call is retried (throttling, 5xx, network errors) with
	// delays of at most 500ms until CallTimeout, so a fence never sleeps
	// long while EC2 is answering again.
	AttemptTimeout time.Duration
	// MinDelay and MaxDelay tune the waiter's polling (default 250ms, 1s;
	// the SDK's defaults of 15s/120s would add seconds to every failover).
	MinDelay, MaxDelay time.Duration
}

// NewFencer returns a Fencer over cfg.
func NewFencer(cfg aws.Config) *Fencer {
	return &Fencer{client: ec2.NewFromConfig(cfg)}
}

// ErrFenceFailed wraps every fencing failure.
var ErrFenceFailed = cloud.ErrFenceFailed

// ErrInstanceNotVerified wraps (with ErrFenceFailed) a fence refused
// because the instance is not provably the node's: it carries neither the
// node's NodeTagKey tag nor the node's address as a private IP. Nothing
// was stopped.
var ErrInstanceNotVerified = errors.New("instance not verified as the node's")

// NodeTagKey is the EC2 tag whose value names the member an instance runs:
// a fence accepts an instance tagged with the member's id.
const NodeTagKey = "raftha:node"

// Target is what a fence stops: an instance, and the member it must be.
type Target struct {
	// InstanceID is the instance to stop; required.
	InstanceID string
	// NodeID is the member id the instance must be tagged with
	// (NodeTagKey), unless its private IP is Host.
	NodeID string
	// Host is the member's address host (no port); an instance with this
	// private IP is the member's.
	Host string
}

// fenceTuning is a Fencer's tuning with defaults filled in. It is computed
// per call and never written back: one Fencer serves concurrent fences.
type fenceTuning struct {
	callTimeout, stopTimeout, attemptTimeout, minDelay, maxDelay time.Duration
}

func (f *Fencer) tuning() fenceTuning {
	or := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	return fenceTuning{
		callTimeout:    or(f.CallTimeout, 10*time.Second),
		stopTimeout:    or(f.StopTimeout, 5*time.Minute),
		attemptTimeout: or(f.AttemptTimeout, DefaultAttemptTimeout),
		minDelay:       or(f.MinDelay, 250*time.Millisecond),
		maxDelay:       or(f.MaxDelay, time.Second),
	}
}

// clientOptions are the fence's per-call client options: its retry
// policy (promptRetryer) and attempt deadline.
func (tu fenceTuning) clientOptions(o *ec2.Options) {
	o.Retryer = promptRetryer(nil)
	o.APIOptions = append(o.APIOptions, withAttemptDeadline(tu.attemptTimeout))
}

// Fence verifies that t.InstanceID is t's node (tag NodeTagKey = NodeID,
// or a private IP equal to Host), force-stops it (Force and
// SkipOsShutdown: no graceful shutdown that could let the old owner keep
// writing) and waits until it is stopped or terminated. It returns nil
// only when EC2 reports that, with what was verified ("i-1 verified by
// tag raftha:node=n1"). An instance it cannot verify is not stopped
// (ErrInstanceNotVerified). Fence is safe for concurrent use.
func (f *Fencer) Fence(ctx context.Context, t Target) (string, error) {
	instanceID := t.InstanceID
	if instanceID == "" {
		return "", fmt.Errorf("%w: no EC2 instance id is known for node %s (set aws.instance_id on it)", ErrFenceFailed, t.NodeID)
	}
	verified, err := f.verify(ctx, t)
	if err != nil {
		return "", err
	}
	return verified, f.stop(ctx, instanceID)
}

// verify checks that t.InstanceID is t's node and says how.
func (f *Fencer) verify(ctx context.Context, t Target) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, f.tuning().callTimeout)
	defer cancel()
	out, err := f.client.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: []string{t.InstanceID}}, f.tuning().clientOptions)
	if err != nil {
		return "", fenceAPIError(err, "DescribeInstances %s (to verify it is node %s's)", t.InstanceID, t.NodeID)
	}
	var inst *types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if aws.ToString(r.Instances[i].InstanceId) == t.InstanceID {
				inst = &r.Instances[i]
			}
		}
	}
	if inst == nil {
		return "", fmt.Errorf("%w: %w: DescribeInstances does not list %s", ErrFenceFailed, ErrInstanceNotVerified, t.InstanceID)
	}
	tag := ""
	for _, tg := range inst.Tags {
		if aws.ToString(tg.Key) == NodeTagKey {
			tag = aws.ToString(tg.Value)
		}
	}
	if t.NodeID != "" && tag == t.NodeID {
		return fmt.Sprintf("%s verified by tag %s=%s", t.InstanceID, NodeTagKey, tag), nil
	}
	ips := []string{}
	if ip := aws.ToString(inst.PrivateIpAddress); ip != "" {
		ips = append(ips, ip)
	}
	for _, ni := range inst.NetworkInterfaces {
		for _, a := range ni.PrivateIpAddresses {
			if ip := aws.ToString(a.PrivateIpAddress); ip != "" && !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
		}
	}
	if t.Host != "" && slices.Contains(ips, t.Host) {
		return fmt.Sprintf("%s verified by private IP %s", t.InstanceID, t.Host), nil
	}
	return "", fmt.Errorf("%w: %w: %s has tag %s=%q and private IPs %v; node %s needs tag %s=%s or private IP %q; nothing was stopped (tag the node's instance)",
		ErrFenceFailed, ErrInstanceNotVerified, t.InstanceID, NodeTagKey, tag, ips, t.NodeID, NodeTagKey, t.NodeID, t.Host)
}

// stop force-stops instanceID and waits until it is stopped or terminated.
func (f *Fencer) stop(ctx context.Context, instanceID string) error {
	tu := f.tuning()
	cctx, cancel := context.WithTimeout(ctx, tu.callTimeout)
	_, err := f.client.StopInstances(cctx, &ec2.StopInstancesInput{
		InstanceIds:    []string{instanceID},
		Force:          aws.Bool(true),
		SkipOsShutdown: aws.Bool(true),
	}, tu.clientOptions)
	cancel()
	if err != nil {
		// EC2 refuses to stop an instance that is already terminated or
		// terminating: such an instance cannot act, which is all we need.
		st, serr := f.State(ctx, instanceID)
		switch {
		case serr == nil && (st == string(types.InstanceStateNameStopped) || st == string(types.InstanceStateNameTerminated)):
			return nil
		case serr == nil && st == string(types.InstanceStateNameShuttingDown):
			// terminating: the waiter below sees it through
		default:
			return fenceAPIError(err, "StopInstances %s", instanceID)
		}
	}
	w := ec2.NewInstanceStoppedWaiter(f.client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = tu.minDelay, tu.maxDelay
		o.ClientOptions = append(o.ClientOptions, tu.clientOptions)
		// stopped and terminated both mean the old owner can no longer act.
		o.Retryable = func(ctx context.Context, in *ec2.DescribeInstancesInput, out *ec2.DescribeInstancesOutput, err error) (bool, error) {
			if err != nil {
				return true, nil // throttling or a blip: keep polling until StopTimeout
			}
			n := 0
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					n++
					if i.State == nil {
						return true, nil
					}
					switch i.State.Name {
					case types.InstanceStateNameStopped, types.InstanceStateNameTerminated:
					default:
						return true, nil
					}
				}
			}
			return n == 0, nil
		}
	})
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}}, tu.stopTimeout); err != nil {
		return fenceAPIError(err, "waiting for %s to stop", instanceID)
	}
	return nil
}

// State returns an instance's state name (for tests and status).
func (f *Fencer) State(ctx context.Context, instanceID string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, f.tuning().callTimeout)
	defer cancel()
	out, err := f.client.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}}, f.tuning().clientOptions)
	if err != nil {
		return "", err
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if i.State != nil {
				return string(i.State.Name), nil
			}
		}
	}
	return "", fmt.Errorf("instance %s not found", instanceID)
}

// fenceAPIError is a fence's failure of an EC2 call (what, formatted
// with args). A failure that says EC2 was unavailable (throttling, 5xx,
// network errors, deadlines) also wraps cloud.ErrUnavailable: the fence
// may be tried again soon.
func fenceAPIError(err error, what string, args ...any) error {
	msg := fmt.Sprintf(what, args...)
	if unavailable(err) {
		return fmt.Errorf("%w: %w: %s: %s", ErrFenceFailed, cloud.ErrUnavailable, msg, describeAPIError(err))
	}
	return fmt.Errorf("%w: %s: %s", ErrFenceFailed, msg, describeAPIError(err))
}

// unavailable reports whether err says the API did not serve the call
// (rather than refused it): a deadline, or an error the SDK retries.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var maxed *retry.MaxAttemptsError
	if errors.As(err, &maxed) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func describeAPIError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err.Error()
}
