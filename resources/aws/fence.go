package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	// MinDelay and MaxDelay tune the waiter's polling (default 250ms, 2s;
	// the SDK's defaults of 15s/120s would add seconds to every failover).
	MinDelay, MaxDelay time.Duration
}

// NewFencer returns a Fencer over cfg.
func NewFencer(cfg aws.Config) *Fencer {
	return &Fencer{client: ec2.NewFromConfig(cfg)}
}

// ErrFenceFailed wraps every fencing failure.
var ErrFenceFailed = errors.New("fence failed")

// fenceTuning is a Fencer's tuning with defaults filled in. It is computed
// per call and never written back: one Fencer serves concurrent fences.
type fenceTuning struct {
	callTimeout, stopTimeout, minDelay, maxDelay time.Duration
}

func (f *Fencer) tuning() fenceTuning {
	or := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	return fenceTuning{
		callTimeout: or(f.CallTimeout, 10*time.Second),
		stopTimeout: or(f.StopTimeout, 5*time.Minute),
		minDelay:    or(f.MinDelay, 250*time.Millisecond),
		maxDelay:    or(f.MaxDelay, 2*time.Second),
	}
}

// Fence force-stops instanceID (Force and SkipOsShutdown: no graceful
// shutdown that could let the old owner keep writing) and waits until it
// is stopped or terminated. It returns nil only when EC2 reports that.
func (f *Fencer) Fence(ctx context.Context, instanceID string) error {
	tu := f.tuning()
	if instanceID == "" {
		return fmt.Errorf("%w: no EC2 instance id is known for the node (set aws.instance_id on it)", ErrFenceFailed)
	}
	cctx, cancel := context.WithTimeout(ctx, tu.callTimeout)
	_, err := f.client.StopInstances(cctx, &ec2.StopInstancesInput{
		InstanceIds:    []string{instanceID},
		Force:          aws.Bool(true),
		SkipOsShutdown: aws.Bool(true),
	})
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
			return fmt.Errorf("%w: StopInstances %s: %s", ErrFenceFailed, instanceID, describeAPIError(err))
		}
	}
	w := ec2.NewInstanceStoppedWaiter(f.client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = tu.minDelay, tu.maxDelay
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
		return fmt.Errorf("%w: waiting for %s to stop: %s", ErrFenceFailed, instanceID, describeAPIError(err))
	}
	return nil
}

// State returns an instance's state name (for tests and status).
func (f *Fencer) State(ctx context.Context, instanceID string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, f.tuning().callTimeout)
	defer cancel()
	out, err := f.client.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
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

func describeAPIError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err.Error()
}
