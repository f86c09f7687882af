package aws

import (
	"context"
	"slices"

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
// on it. Its calls then retry as the fence's do (promptRetryer): until
// the call's deadline, not for a count of attempts, after short jittered
// delays and without the client-side retry quota, so that a start under
// an API that fails some calls (throttling, 5xx, a hung connection) is
// not given up after six attempts, and never sleeps seconds in a backoff
// while the API answers again. Check's calls keep the SDK's standard
// policy (six attempts, up to 2 s between them, the retry quota): a
// monitor polls again at its next interval, and under throttling its
// retries would add to the load that caused it.
func actionCalls(ctx context.Context) context.Context {
	return context.WithValue(ctx, actionKey{}, true)
}

// isAction reports whether ctx is a resource's Start or Stop.
func isAction(ctx context.Context) bool {
	v, _ := ctx.Value(actionKey{}).(bool)
	return v
}

// ec2Opts is the per-call EC2 client option for ctx: the prompt retry
// policy for a Start or Stop (actionCalls), none otherwise.
func ec2Opts(ctx context.Context) func(*ec2.Options) {
	if !isAction(ctx) {
		return func(*ec2.Options) {}
	}
	return func(o *ec2.Options) { o.Retryer = promptRetryer() }
}

// r53Opts is ec2Opts for Route 53.
func r53Opts(ctx context.Context) func(*route53.Options) {
	if !isAction(ctx) {
		return func(*route53.Options) {}
	}
	return func(o *route53.Options) { o.Retryer = promptRetryer() }
}
