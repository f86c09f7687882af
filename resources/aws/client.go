// Package aws holds raftha's AWS side: one aws.Config per process built
// with an endpoint override (for moto_server and private endpoints), a
// retryer that backs off on throttling and 5xx without a client-side retry
// quota, the EC2 fencer (force-stop of a lost owner) and IMDSv2 lookup.
package aws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Settings are the member's aws: section plus call deadlines.
type Settings struct {
	// Region is the AWS region.
	Region string
	// Endpoint overrides every client's endpoint (also read from the
	// standard AWS_ENDPOINT_URL variable when empty).
	Endpoint string
	// MaxAttempts bounds retries of one call (default 6).
	MaxAttempts int
	// MaxBackoff caps the delay between retries (default 2s).
	MaxBackoff time.Duration
	// AttemptTimeout, when positive, bounds each attempt of every call
	// (default none: only the call's deadline): a hung attempt is
	// abandoned and retried at once on a fresh connection, with the
	// bound doubled after each attempt abandoned in a row. The fencer
	// (Fencer.AttemptTimeout) and the AWS resource types
	// (ResourceAttemptTimeout) always bound their attempts; other calls
	// may read large answers that a short bound would cut off.
	AttemptTimeout time.Duration
	// Observe, when set, is called after every API call (retries
	// included) with the service, the operation, the error and the time.
	Observe func(service, operation string, err error, took time.Duration)
}

// LoadConfig builds the process's aws.Config. Retries use the SDK's
// standard retryer (throttling, 5xx and transient network errors, with
// jittered exponential backoff) with the client-side retry quota turned
// off, so a burst of failures elsewhere can never starve the fencing path,
// and each attempt bounded by AttemptTimeout when it is set.
func LoadConfig(ctx context.Context, s Settings) (aws.Config, error) {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 6
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 2 * time.Second
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = s.MaxAttempts
				o.MaxBackoff = s.MaxBackoff
				o.Backoff = retryAbandonedAtOnce{retry.NewExponentialJitterBackoff(s.MaxBackoff)}
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if ep := s.endpoint(); ep != "" {
		opts = append(opts, config.WithBaseEndpoint(ep))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: load configuration: %w", err)
	}
	if s.AttemptTimeout > 0 {
		cfg.APIOptions = append(cfg.APIOptions, withAttemptDeadline(s.AttemptTimeout))
	}
	if s.Observe != nil {
		observe := s.Observe
		cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("RafthaObserve", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				observe(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), err, time.Since(start))
				return out, md, err
			}), middleware.Before)
		})
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("aws: no region: set aws.region in the member configuration (or AWS_REGION)")
	}
	return cfg, nil
}

func (s Settings) endpoint() string {
	if s.Endpoint != "" {
		return s.Endpoint
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}

// InstanceID reads this instance's id from IMDSv2 (token-based; the SDK's
// IMDS client fetches the session token first). The IMDS endpoint can be
// overridden with AWS_EC2_METADATA_SERVICE_ENDPOINT.
func InstanceID(ctx context.Context, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := imds.New(imds.Options{})
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		return "", fmt.Errorf("aws: instance_id auto: IMDSv2 did not answer: %w", err)
	}
	defer out.Content.Close()
	var buf [64]byte
	n, _ := out.Content.Read(buf[:])
	id := string(buf[:n])
	if id == "" {
		return "", errors.New("aws: instance_id auto: IMDSv2 returned an empty instance id")
	}
	return id, nil
}

// ErrorCode returns the AWS error code of err ("ThrottlingException",
// "InvalidInstanceID.NotFound"...), or "error" when it has none.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}
