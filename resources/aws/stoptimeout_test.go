package aws_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go/middleware"

	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
)

// hangingEnv is f.env with the cluster's stop_deadline and an API call
// that, once *hang is set, blocks until its context ends (AWS not
// answering): match reports whether a request's input is that call.
func hangingEnv(f *dnsebsFixture, t *testing.T, instanceID string, stopDeadline time.Duration, hang *atomic.Bool, match func(any) bool) resources.Env {
	env := f.env(t, instanceID)
	env.StopDeadline = stopDeadline
	cfg := f.cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("hang",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if hang.Load() && match(in.Parameters) {
					<-ctx.Done()
					return middleware.InitializeOutput{}, middleware.Metadata{}, ctx.Err()
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
	env.Cloud = &cfg
	return env
}

// TestEBSStopBoundedByStopDeadline: without stop_timeout a single-attach
// volume's Stop is cut at min(wait_timeout, stop_deadline), here 500ms,
// not at the 2m wait_timeout (nor the 10s call timeout) when the detach
// does not answer; stop_timeout, when set, is the bound instead.
func TestEBSStopBoundedByStopDeadline(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	for _, tc := range []struct {
		extra    string
		deadline time.Duration
		want     time.Duration
	}{
		{"", 500 * time.Millisecond, 500 * time.Millisecond},
		{"wait_timeout: 5m\nstop_timeout: 700ms\n", 10 * time.Second, 700 * time.Millisecond},
	} {
		vol := f.volume(t, false)
		var hang atomic.Bool
		env := hangingEnv(f, t, a, tc.deadline, &hang, func(in any) bool { _, ok := in.(*ec2.DetachVolumeInput); return ok })
		r := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\n%s", vol, tc.extra), env)
		ctx := dnsebsCtx(t)
		if err := r.Start(ctx, ebsTok("a", 1)); err != nil {
			t.Fatalf("start: %v", err)
		}
		hang.Store(true)
		t0 := time.Now()
		err := r.Stop(ctx, ebsTok("a", 1))
		took := time.Since(t0)
		if err == nil || took < tc.want || took > tc.want+time.Second {
			t.Fatalf("%q, stop_deadline %s: stop with DetachVolume hanging took %s (%v), want an error after %s", tc.extra, tc.deadline, took, err, tc.want)
		}
		hang.Store(false)
		if err := r.Stop(ctx, ebsTok("a", 1)); err != nil {
			t.Fatalf("stop once AWS answers: %v", err)
		}
		wantAttachments(t, f, vol, ec2types.VolumeStateAvailable)
	}
}

// TestDNSStopBoundedByStopDeadline: with delete_on_stop and no
// stop_timeout, the wait for the deletion to be INSYNC is cut at
// min(wait_timeout, stop_deadline).
func TestDNSStopBoundedByStopDeadline(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	zone := f.zone(t, "example.internal")
	var hang atomic.Bool
	env := hangingEnv(f, t, a, 500*time.Millisecond, &hang, func(in any) bool { _, ok := in.(*route53.GetChangeInput); return ok })
	r := dnsebsMustBuild(t, awsres.DNSType, fmt.Sprintf("hosted_zone_id: %s\nrecord: db.example.internal\ndelete_on_stop: true\n", zone), env)
	ctx := dnsebsCtx(t)
	if err := r.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start: %v", err)
	}
	hang.Store(true)
	t0 := time.Now()
	err := r.Stop(ctx, dnsTok("a", 1))
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "not INSYNC within 500ms") || took > 1500*time.Millisecond {
		t.Fatalf("stop with GetChange hanging took %s (%v), want not INSYNC within 500ms", took, err)
	}
}

func TestStopTimeoutParams(t *testing.T) {
	for _, tc := range []struct {
		p    resources.Validator
		want string
	}{
		{&awsres.EBSParams{VolumeID: "vol-0abc", MultiAttach: true, StopTimeout: "5s"}, "stop_timeout cannot be set with multi_attach"},
		{&awsres.EBSParams{VolumeID: "vol-0abc", Device: "/dev/xvdf", StopTimeout: "0s"}, `stop_timeout: expected a positive duration like 10s, got "0s"`},
		{&awsres.EBSParams{VolumeID: "vol-0abc", Device: "/dev/xvdf", WaitTimeout: "5m", StopTimeout: "5s"}, ""},
		{&awsres.DNSParams{HostedZoneID: "Z0123", Name: "db.example.internal", StopTimeout: "5s"}, "stop_timeout applies only with delete_on_stop"},
		{&awsres.DNSParams{HostedZoneID: "Z0123", Name: "db.example.internal", DeleteOnStop: true, StopTimeout: "5s"}, ""},
	} {
		err := tc.p.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
		if st, ok := tc.p.(resources.StopTimeouter); !ok {
			t.Errorf("%T is not a resources.StopTimeouter", tc.p)
		} else if tc.want == "" && st.ExplicitStopTimeout() != 5*time.Second {
			t.Errorf("%+v: explicit stop timeout %s", tc.p, st.ExplicitStopTimeout())
		}
	}
	if d := (&awsres.EBSParams{WaitTimeout: "5m"}).ExplicitStopTimeout(); d != 0 {
		t.Errorf("ebs without stop_timeout: %s, want 0", d)
	}
}
