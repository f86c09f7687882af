package aws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	awsres "github.com/raftha/raftha/resources/aws"
)

// errAnswerLost is an attempt's error after EC2 applied the request: the
// answer never came back (a load balancer's 5xx, a reset connection). The
// SDK's retryer retries it.
type errAnswerLost struct{}

func (errAnswerLost) Error() string        { return "connection reset after the request was sent" }
func (errAnswerLost) RetryableError() bool { return true }

// TestEBSAttachAnswerLostThenRefused: the start's AttachVolume reaches
// EC2 and is applied, but its answer is lost; the retryer sends it again
// and EC2 refuses it, as it does for a volume already attached
// (VolumeInUse; moto would accept it, so the middleware answers for EC2).
// The start sees the volume attached here and goes on; it does not fail
// the group on an attach that worked.
func TestEBSAttachAnswerLostThenRefused(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.220", false)
	vol := f.volume(t, false)
	env := f.env(t, a)
	cfg := f.cfg.Copy()
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
				return middleware.FinalizeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
					Code: "VolumeInUse", Message: fmt.Sprintf("%s is already attached to an instance", vol), Fault: smithy.FaultClient}
			})
		return s.Finalize.Insert(mw, "Retry", middleware.After)
	})
	env.Cloud = &cfg
	r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\n", vol), env)
	if err := r.Start(dnsebsCtx(t), ebsTok("a", 1)); err != nil {
		t.Fatalf("start after an applied attach whose answer was lost: %v (AttachVolume attempts: %d)", err, attempts)
	}
	if attempts < 2 {
		t.Fatalf("AttachVolume was sent %d times; the test needs the retry to meet the refusal", attempts)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, a+":attached")
}
