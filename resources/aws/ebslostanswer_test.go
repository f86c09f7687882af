package aws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
)

// ebsOnOneInstance is a fixture with one instance at ip and one volume,
// the instance's resource environment and a copy of the fixture's AWS
// configuration for the test's middleware.
func ebsOnOneInstance(t *testing.T, ip string) (f *dnsebsFixture, instance, vol string, env resources.Env, cfg aws.Config) {
	f = newDNSEBSFixture(t)
	instance = f.instance(t, ip, false)
	return f, instance, f.volume(t, false), f.env(t, instance), f.cfg.Copy()
}

// errAnswerLost is an attempt's error after EC2 applied the request: the
// answer never came back (a load balancer's 5xx, a reset connection). The
// SDK's retryer retries it.
type errAnswerLost struct{}

func (errAnswerLost) Error() string        { return "connection reset after the request was sent" }
func (errAnswerLost) RetryableError() bool { return true }

// TestEBSAttachAppliedButAnswerLost: the start's AttachVolume reaches EC2
// and is applied, but its answer is lost, and the retries that follow
// fail:
//   - refused: EC2 refuses the retry, as it does for a volume already
//     attached (VolumeInUse; moto would accept it, so the middleware
//     answers for EC2);
//   - throttled until the deadline: every retry is throttled until the
//     call's deadline (EC2 throttles mutating calls apart from reads in a
//     mass takeover), so the attach ran out of time.
//
// Either way the look after the failed attach sees the volume attached
// here, and the group comes online: it does not fail, detach and move on
// an attach that worked.
func TestEBSAttachAppliedButAnswerLost(t *testing.T) {
	for _, tc := range []struct {
		name        string
		then        error
		callTimeout time.Duration
		minAttempts int
	}{
		{"refused", &smithy.GenericAPIError{Code: "VolumeInUse", Message: "the volume is already attached to an instance", Fault: smithy.FaultClient}, 10 * time.Second, 2},
		{"throttled until the deadline", &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Fault: smithy.FaultClient}, 2 * time.Second, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, a, vol, env, cfg := ebsOnOneInstance(t, "10.0.110.220")
			var mu sync.Mutex
			attempts := 0
			cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
				mw := middleware.FinalizeMiddlewareFunc("loseAttachAnswer",
					func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
						if middleware.GetOperationName(ctx) != "AttachVolume" {
							return next.HandleFinalize(ctx, in)
						}
						mu.Lock()
						attempts++
						n := attempts
						mu.Unlock()
						if n == 1 {
							out, md, err := next.HandleFinalize(ctx, in) // applied by EC2 (moto)
							if err != nil {
								return out, md, err
							}
							return out, md, errAnswerLost{}
						}
						return middleware.FinalizeOutput{}, middleware.Metadata{}, tc.then
					})
				return s.Finalize.Insert(mw, "Retry", middleware.After)
			})
			env.Cloud, env.CallTimeout = &cfg, tc.callTimeout
			r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\n", vol), env)
			err := r.Start(dnsebsCtx(t), ebsTok("a", 1))
			mu.Lock()
			n := attempts
			mu.Unlock()
			if err != nil {
				t.Fatalf("start after an applied attach whose answer was lost: %v (AttachVolume attempts: %d)", err, n)
			}
			if n < tc.minAttempts {
				t.Fatalf("AttachVolume was sent %d times; the test needs at least %d", n, tc.minAttempts)
			}
			wantAttachments(t, f, vol, ec2types.VolumeStateInUse, a+":attached")
		})
	}
}

// TestEBSAttachOutOfTimeLooksBriefly: with the API down from the start's
// AttachVolume on, the attach runs out of time and the look after it (for
// an attach EC2 applied) is given two attempt deadlines, not another call
// timeout: the failed start's stop, which looks again and detaches what
// EC2 applied, is not delayed by a whole call timeout more.
func TestEBSAttachOutOfTimeLooksBriefly(t *testing.T) {
	_, _, vol, env, cfg := ebsOnOneInstance(t, "10.0.110.221")
	const callTimeout = 6 * time.Second
	var mu sync.Mutex
	attached := false
	var looks []time.Duration // each look's call deadline, from its start
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		// The call's deadline, seen before the retryer sets an attempt's.
		look := middleware.InitializeMiddlewareFunc("callDeadline",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				if dl, ok := ctx.Deadline(); ok && attached && middleware.GetOperationName(ctx) == "DescribeVolumes" {
					looks = append(looks, time.Until(dl))
				}
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			})
		down := middleware.FinalizeMiddlewareFunc("apiDownAtAttach",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				mu.Lock()
				if middleware.GetOperationName(ctx) == "AttachVolume" {
					attached = true
				}
				isDown := attached
				mu.Unlock()
				if !isDown {
					return next.HandleFinalize(ctx, in)
				}
				<-ctx.Done() // the API no longer answers
				return middleware.FinalizeOutput{}, middleware.Metadata{}, ctx.Err()
			})
		if err := s.Initialize.Add(look, middleware.After); err != nil {
			return err
		}
		return s.Finalize.Insert(down, "Retry", middleware.After)
	})
	env.Cloud, env.CallTimeout = &cfg, callTimeout
	r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\n", vol), env)
	err := r.Start(dnsebsCtx(t), ebsTok("a", 1))
	mu.Lock()
	defer mu.Unlock()
	if err == nil || !attached {
		t.Fatalf("start with the API down from AttachVolume on: err=%v, attach sent=%v; want the attach sent and the start failed", err, attached)
	}
	if len(looks) != 1 {
		t.Fatalf("%d looks at the volume after the attach, want 1: %v", len(looks), looks)
	}
	if limit := 2*awsres.DefaultAttemptTimeout + 100*time.Millisecond; looks[0] > limit {
		t.Fatalf("the look after an attach that ran out of time had %s (call timeout %s), want at most %s", looks[0].Round(time.Millisecond), callTimeout, limit)
	}
}

// TestEBSStopDetachesAnAttachingVolume: a stop that meets its volume
// still attaching here (an attach EC2 applied after the start gave up on
// it) detaches it, whatever EC2 answers a detach while attaching:
//   - refused (IncorrectState): the stop sends it again once a look sees
//     the volume attached (it used to take the refusal for "already
//     detaching" and wait for a detach that never came: a failed stop,
//     which leaves the group to a fenced takeover);
//   - accepted, with the attach stuck: the stop must not wait for the
//     attach to finish;
//   - not found (the detach does not see the late attach yet): the stop
//     sends it again too.
//
// moto attaches at once, so the middleware shows the attachment attaching
// to the first looks and answers the detach meanwhile.
func TestEBSStopDetachesAnAttachingVolume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		looks int    // looks that see the attachment attaching
		code  string // EC2's answer to a detach while attaching; "" takes it
	}{
		{"refused while attaching", 3, "IncorrectState"},
		{"stuck attach, detach accepted", 1 << 20, ""},
		{"late attach not yet seen by the detach", 3, "InvalidAttachment.NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, vol, env, cfg := ebsOnOneInstance(t, "10.0.110.223")
			var mu sync.Mutex
			attachingLooks, refused := 0, 0
			cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
				mw := middleware.FinalizeMiddlewareFunc("stillAttaching",
					func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
						mu.Lock()
						attaching := attachingLooks > 0
						mu.Unlock()
						switch middleware.GetOperationName(ctx) {
						case "DetachVolume":
							if attaching && tc.code != "" {
								mu.Lock()
								refused++
								mu.Unlock()
								return middleware.FinalizeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
									Code: tc.code, Message: fmt.Sprintf("answered for volume %s while it is attaching", vol), Fault: smithy.FaultClient}
							}
							mu.Lock()
							attachingLooks = 0 // detaching now (moto detaches at once)
							mu.Unlock()
						case "DescribeVolumes":
							out, md, err := next.HandleFinalize(ctx, in)
							if dv, ok := out.Result.(*ec2.DescribeVolumesOutput); ok && err == nil && attaching {
								for i := range dv.Volumes {
									for j := range dv.Volumes[i].Attachments {
										dv.Volumes[i].Attachments[j].State = ec2types.VolumeAttachmentStateAttaching
									}
								}
								mu.Lock()
								attachingLooks--
								mu.Unlock()
							}
							return out, md, err
						}
						return next.HandleFinalize(ctx, in)
					})
				return s.Finalize.Insert(mw, "Retry", middleware.After)
			})
			env.Cloud = &cfg
			r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\nstop_timeout: 5s\n", vol), env)
			ctx := dnsebsCtx(t)
			if err := r.Start(ctx, ebsTok("a", 1)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			attachingLooks = tc.looks
			mu.Unlock()
			err := r.Stop(ctx, ebsTok("a", 1))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Fatalf("stop of a volume still attaching here: %v (detaches refused while attaching: %d)", err, refused)
			}
			if (tc.code != "") != (refused > 0) {
				t.Fatalf("%d detaches answered %q while attaching: the case did not happen", refused, tc.code)
			}
			wantAttachments(t, f, vol, ec2types.VolumeStateAvailable)
		})
	}
}

// TestEBSStopLooksAgainAfterALookRanOutOfTime: the look right after the
// stop's detach hangs for its whole call timeout (the API slow for a
// moment); the stop looks again while stop_timeout lasts and succeeds. It
// used to fail at once: the look's error had lost the SDK's deadline, so
// it was not known to have run out of time, and a failed stop leaves the
// group to a fenced takeover.
func TestEBSStopLooksAgainAfterALookRanOutOfTime(t *testing.T) {
	f, _, vol, env, cfg := ebsOnOneInstance(t, "10.0.110.224")
	var mu sync.Mutex
	detached, hung := false, 0
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("hangOneLook",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				op := middleware.GetOperationName(ctx)
				hang := op == "DescribeVolumes" && detached && hung == 0
				if hang {
					hung++
				}
				mu.Unlock()
				if hang {
					<-ctx.Done() // the whole call, every attempt
					return middleware.InitializeOutput{}, middleware.Metadata{}, ctx.Err()
				}
				out, md, err := next.HandleInitialize(ctx, in)
				if op == "DetachVolume" && err == nil {
					mu.Lock()
					detached = true
					mu.Unlock()
				}
				return out, md, err
			}), middleware.After)
	})
	env.Cloud, env.CallTimeout = &cfg, time.Second
	r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\nstop_timeout: 5s\n", vol), env)
	ctx := dnsebsCtx(t)
	if err := r.Start(ctx, ebsTok("a", 1)); err != nil {
		t.Fatal(err)
	}
	err := r.Stop(ctx, ebsTok("a", 1))
	mu.Lock()
	defer mu.Unlock()
	if hung != 1 {
		t.Fatalf("%d looks hung after the detach, want 1 (the case did not happen; stop: %v)", hung, err)
	}
	if err != nil {
		t.Fatalf("stop whose look after the detach ran out of time (call timeout 1s, stop_timeout 5s): %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateAvailable)
}
