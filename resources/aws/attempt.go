package aws

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// DefaultAttemptTimeout is the deadline of one attempt of a fence's EC2
// call (Fencer.AttemptTimeout): an attempt that has not answered by then
// is abandoned and retried at once on a fresh connection, with the
// deadline doubled after each attempt abandoned in a row.
const DefaultAttemptTimeout = time.Second

// ErrAttemptTimeout is wrapped by the error of an attempt abandoned at its
// own deadline while the call's deadline still had time. It wraps
// context.DeadlineExceeded (ErrorCode says "timeout").
var ErrAttemptTimeout = fmt.Errorf("aws: attempt abandoned at its deadline: %w", context.DeadlineExceeded)

// attemptTimeoutError is the error of one abandoned attempt. The SDK's
// retryer retries it (RetryableError); it does not wrap the SDK's
// canceled error, which the retryer would never retry.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("%v (after %s)", ErrAttemptTimeout, e.after)
}

func (e *attemptTimeoutError) Unwrap() error { return ErrAttemptTimeout }

// RetryableError tells the SDK's retryer to retry the call.
func (e *attemptTimeoutError) RetryableError() bool { return true }

// attemptDeadlineID is the middleware's id in the Finalize step.
const attemptDeadlineID = "RafthaAttemptDeadline"

// attemptDeadline bounds each attempt of one call (it sits inside the
// retry loop). The first attempt, and any after an attempt that failed
// otherwise, gets base; after k attempts in a row were abandoned, the next
// gets base×2^k, so an API that is slow but alive is still waited for
// while a hung connection costs one base. The call's own deadline bounds
// every attempt. One value serves one call: attempts are sequential.
type attemptDeadline struct {
	base     time.Duration
	timeouts int // consecutive abandoned attempts of this call
}

func (*attemptDeadline) ID() string { return attemptDeadlineID }

func (m *attemptDeadline) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	d := m.base << min(m.timeouts, 6)
	actx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, md, err := next.HandleFinalize(actx, in)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		m.timeouts++
		terr := &attemptTimeoutError{after: d}
		recordAnswer(ctx, terr) // the API did not answer this one
		return out, md, terr
	}
	m.timeouts = 0
	recordAnswer(ctx, err) // for withLastAnswer (retryspace.go)
	return out, md, err
}

// withAttemptDeadline returns the API option that bounds each attempt of
// a call by base (see attemptDeadline), replacing a bound set before.
func withAttemptDeadline(base time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		mw := &attemptDeadline{base: base}
		if _, ok := stack.Finalize.Get(attemptDeadlineID); ok {
			_, err := stack.Finalize.Swap(attemptDeadlineID, mw)
			return err
		}
		if _, ok := stack.Finalize.Get("Retry"); !ok {
			return stack.Finalize.Add(mw, middleware.Before)
		}
		return stack.Finalize.Insert(mw, "Retry", middleware.After)
	}
}

// retryAbandonedAtOnce wraps a backoff: an attempt abandoned at its
// deadline has waited already, and is retried without a further delay.
type retryAbandonedAtOnce struct{ next retry.BackoffDelayer }

func (b retryAbandonedAtOnce) BackoffDelay(attempt int, err error) (time.Duration, error) {
	if errors.Is(err, ErrAttemptTimeout) {
		return 0, nil
	}
	return b.next.BackoffDelay(attempt, err)
}

// Prompt retry policy (the fence's, and a resource's Start and Stop): a
// call retries until its deadline (not for a count of attempts), with
// short jittered delays, so that it never sleeps long while the API is
// answering again.
const (
	fenceBaseBackoff     = 100 * time.Millisecond
	fenceThrottleBackoff = 250 * time.Millisecond
	fenceMaxBackoff      = 500 * time.Millisecond
	// fenceMaxAttempts is high enough that the call's deadline, not the
	// count, ends a fence call's retries.
	fenceMaxAttempts = 1000
)

// fenceBackoff is full jitter over min(fenceMaxBackoff, base×2^attempt),
// base larger for throttling. (The SDK's own backoff, once past its cap,
// sleeps the whole cap without jitter.)
type fenceBackoff struct{}

func (fenceBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	base := fenceBaseBackoff
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		base = fenceThrottleBackoff
	}
	capd := min(fenceMaxBackoff, base<<min(max(attempt-1, 0), 10))
	return time.Duration(rand.Int64N(int64(capd) + 1)), nil
}

// promptRetryer is the retry policy of the fence's calls and of a
// resource's Start and Stop (actionCalls): throttling, 5xx, network
// errors and abandoned attempts are retried until the call's deadline,
// without the client-side retry quota (which would refuse retries under
// throttling), after short jittered delays. With a spacer (the actions'),
// each delay is also pushed back to the spacer's next free slot; an
// abandoned attempt (which waited a whole attempt deadline) is retried at
// once either way. The fence's calls are not spaced: a fence is one per
// lost node and must not queue behind the starts of many groups.
func promptRetryer(sp *retrySpacer) aws.Retryer {
	var b retry.BackoffDelayer = fenceBackoff{}
	if sp != nil {
		b = spacedBackoff{next: b, sp: sp}
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = fenceMaxAttempts
		o.RateLimiter = ratelimit.None
		o.Backoff = retryAbandonedAtOnce{b}
	})
}
