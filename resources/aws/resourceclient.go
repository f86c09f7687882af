package aws

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// ResourceAttemptTimeout is the deadline of one attempt of an AWS resource
// type's API call (aws.route, aws.eip, aws.dns, aws.ebs: their Start, Stop,
// Check and waits). An attempt that has not answered by then (a blackholed
// connection under a degraded API) is abandoned and retried at once on a
// fresh connection, with the deadline doubled after each attempt abandoned
// in a row (so a slow but alive API is still waited for), all within the
// call's own deadline (resources.Env.CallTimeout) and the retryer of
// LoadConfig. One hung connection thus costs a start about a second, not
// the call's deadline. It is the fence's attempt deadline
// (DefaultAttemptTimeout).
const ResourceAttemptTimeout = DefaultAttemptTimeout

// resourceEC2 is the EC2 client of a resource type: cfg's, with each
// attempt bounded by ResourceAttemptTimeout.
func resourceEC2(cfg *aws.Config) *ec2.Client {
	return ec2.NewFromConfig(*cfg, func(o *ec2.Options) {
		o.APIOptions = append(slices.Clip(o.APIOptions), withAttemptDeadline(ResourceAttemptTimeout))
	})
}

// resourceRoute53 is the Route 53 client of a resource type: cfg's, with
// each attempt bounded by ResourceAttemptTimeout.
func resourceRoute53(cfg *aws.Config) *route53.Client {
	return route53.NewFromConfig(*cfg, func(o *route53.Options) {
		o.APIOptions = append(slices.Clip(o.APIOptions), withAttemptDeadline(ResourceAttemptTimeout))
	})
}

// actionKey marks a context whose AWS calls act for a resource's Start or
// Stop (actionCalls).
type actionKey struct{}

// actionCalls marks ctx as a resource's Start or Stop: a takeover waits
// on it. Its calls then retry as the fence's do: until the call's
// deadline (a waiter's: its wait limit), not for a count of attempts,
// after short jittered delays, so that a start under an API that fails
// some calls (throttling, 5xx, a hung connection) is not given up after
// six attempts, and never sleeps seconds in a backoff while the API
// answers again. The retries of all the process's actions are spaced
// (ec2ActionRetries, r53ActionRetries), so that a takeover of many groups
// does not multiply the load of a throttled account. Check's calls keep
// the SDK's standard policy (six attempts, up to 2 s apart): a monitor
// polls again at its next interval.
func actionCalls(ctx context.Context) context.Context {
	return context.WithValue(ctx, actionKey{}, true)
}

// isAction reports whether ctx is a resource's Start or Stop.
func isAction(ctx context.Context) bool {
	v, _ := ctx.Value(actionKey{}).(bool)
	return v
}

// Action retries are spaced per API across the process: one EC2 retry
// every 200 ms and one Route 53 retry every 500 ms (Route 53 allows an
// account 5 requests a second), up to 2 s of queued slots; beyond that a
// retry waits a random 1-2 s (retrySpacer). A lone start still retries
// after its own jittered delay; many starts at once queue their retries.
var (
	ec2ActionRetries = &retrySpacer{every: 200 * time.Millisecond}
	r53ActionRetries = &retrySpacer{every: 500 * time.Millisecond}
)

// ec2Opts is the per-call EC2 client option for ctx: for a Start or Stop
// (actionCalls) the prompt retry policy, spaced by ec2ActionRetries, and
// the last answer in the error of a call that ran out of time; none
// otherwise.
func ec2Opts(ctx context.Context) func(*ec2.Options) {
	if !isAction(ctx) {
		return func(*ec2.Options) {}
	}
	return func(o *ec2.Options) {
		o.Retryer = promptRetryer(ec2ActionRetries)
		o.APIOptions = append(slices.Clip(o.APIOptions), withLastAnswer)
	}
}

// r53Opts is ec2Opts for Route 53 (spaced by r53ActionRetries).
func r53Opts(ctx context.Context) func(*route53.Options) {
	if !isAction(ctx) {
		return func(*route53.Options) {}
	}
	return func(o *route53.Options) {
		o.Retryer = promptRetryer(r53ActionRetries)
		o.APIOptions = append(slices.Clip(o.APIOptions), withLastAnswer)
	}
}
