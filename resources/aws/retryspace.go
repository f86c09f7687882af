package aws

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// retrySpacer hands out retry times at least every apart across the
// calls that share it: a retry whose own delay would come sooner than
// the spacer's next free slot waits for that slot. It bounds the retries
// a process sends to one API while up to spacedWaitMax/every calls retry
// at once. When the slots of the next spacedWaitMax are all taken, a
// retry takes none and waits a random time between spacedWaitMax/2 (or
// its own delay) and spacedWaitMax instead: the extra retriers stay out
// of phase, each retrying about every 1-2 s as under the SDK's standard
// policy, and the slots of calls that ended meanwhile (a start cancelled
// in its backoff) never delay a retry by more than spacedWaitMax.
type retrySpacer struct {
	every time.Duration

	mu   sync.Mutex
	next time.Time // the next free slot
}

// reserve returns how long a retry that wants to wait d must wait: d, or
// until the next free slot. The slot is taken.
func (s *retrySpacer) reserve(d time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.next.After(now.Add(spacedWaitMax)) {
		lo := max(d, spacedWaitMax/2)
		if lo >= spacedWaitMax {
			return d
		}
		return lo + rand.N(spacedWaitMax-lo)
	}
	at := now.Add(d)
	if at.Before(s.next) {
		at = s.next
	}
	s.next = at.Add(s.every)
	return at.Sub(now)
}

// spacedWaitMax bounds how long a spaced retry waits for its slot: the
// standard policy's longest backoff (LoadConfig's MaxBackoff default).
const spacedWaitMax = 2 * time.Second

// spacedBackoff is a backoff whose delays are pushed back to sp's slots.
type spacedBackoff struct {
	next retry.BackoffDelayer
	sp   *retrySpacer
}

func (b spacedBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	d, err := b.next.BackoffDelay(attempt, err)
	if err != nil {
		return 0, err
	}
	return b.sp.reserve(d), nil
}

// lastAnswer is, in a call's context, the last error an attempt of the
// call got from the API (attemptDeadline records it; the attempts of one
// call are sequential).
type lastAnswer struct{ err error }

type lastAnswerKey struct{}

// recordAnswer notes err, an attempt's error that is not its own
// deadline, for withLastAnswer.
func recordAnswer(ctx context.Context, err error) {
	if h, ok := ctx.Value(lastAnswerKey{}).(*lastAnswer); ok && err != nil && ctx.Err() == nil {
		h.err = err
	}
}

// lastAnswerID is withLastAnswer's id in the Initialize step.
const lastAnswerID = "RafthaLastAnswer"

// withLastAnswer makes a call that ran out of time (its deadline, or its
// context ended, while it retried) say what the API last answered: a
// start that gave up under throttling then reads "... context deadline
// exceeded; the last attempt failed with: ThrottlingException: Rate exceeded",
// not only the deadline. The error still unwraps to the deadline only, so
// it is classified as before.
func withLastAnswer(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(lastAnswerID); ok {
		return nil
	}
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(lastAnswerID,
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			h := &lastAnswer{}
			out, md, err := next.HandleInitialize(context.WithValue(ctx, lastAnswerKey{}, h), in)
			if err != nil && h.err != nil && ranOutOfTime(err) {
				err = &lastAnswerError{err: err, last: h.err}
			}
			return out, md, err
		}), middleware.After)
}

// lastAnswerError is a call's error (a deadline) with the API's last
// answer to one of its attempts.
type lastAnswerError struct{ err, last error }

func (e *lastAnswerError) Error() string {
	return e.err.Error() + "; the last attempt failed with: " + describeAPIError(e.last)
}

// Unwrap returns the call's own error.
func (e *lastAnswerError) Unwrap() error { return e.err }

// ranOutOfTime is whether a call ended at its deadline or was cancelled,
// rather than answered.
func ranOutOfTime(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
