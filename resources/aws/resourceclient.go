package aws

import (
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
