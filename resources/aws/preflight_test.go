package aws

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// fakeDryRun answers each action with the next error of its script (the
// last one repeats) and records the inputs, DryRun flag included.
type fakeDryRun struct {
	mu     sync.Mutex
	script map[string][]error
	calls  map[string]int
	dry    []bool
}

func (f *fakeDryRun) answer(action string, dry *bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.dry = append(f.dry, dry != nil && *dry)
	s := f.script[action]
	n := f.calls[action]
	f.calls[action]++
	if len(s) == 0 {
		return &smithy.GenericAPIError{Code: codeDryRun}
	}
	return s[min(n, len(s)-1)]
}

func (f *fakeDryRun) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return nil, f.answer("ec2:StopInstances", in.DryRun)
}
func (f *fakeDryRun) ReplaceRoute(_ context.Context, in *ec2.ReplaceRouteInput, _ ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error) {
	return nil, f.answer("ec2:ReplaceRoute", in.DryRun)
}
func (f *fakeDryRun) AssociateAddress(_ context.Context, in *ec2.AssociateAddressInput, _ ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error) {
	return nil, f.answer("ec2:AssociateAddress", in.DryRun)
}
func (f *fakeDryRun) AttachVolume(_ context.Context, in *ec2.AttachVolumeInput, _ ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	return nil, f.answer("ec2:AttachVolume", in.DryRun)
}
func (f *fakeDryRun) DetachVolume(_ context.Context, in *ec2.DetachVolumeInput, _ ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	return nil, f.answer("ec2:DetachVolume", in.DryRun)
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " message"}
}

var fastPolicy = CheckPolicy{Attempts: 4, CallTimeout: time.Second, Backoff: func(int) time.Duration { return time.Millisecond }}

func TestClassifyDryRun(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Verdict
	}{
		{apiErr("DryRunOperation"), PermissionAllowed},
		{apiErr("UnauthorizedOperation"), PermissionDenied},
		{apiErr("AccessDenied"), PermissionDenied},
		{apiErr("RequestLimitExceeded"), PermissionUnknown},
		{apiErr("InvalidInstanceID.NotFound"), PermissionUnknown},
		{context.DeadlineExceeded, PermissionUnknown},
		{errors.New("dial tcp: connection refused"), PermissionUnknown},
		{nil, PermissionUnknown},
	} {
		if got := ClassifyDryRun(tc.err); got != tc.want {
			t.Errorf("ClassifyDryRun(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestRunCheckDecisions: allowed and denied are verdicts at the first
// answer; unknown answers are retried, and a verdict after them counts;
// endless unknown answers stop after the bounded attempts.
func TestRunCheckDecisions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []error
		verdict  Verdict
		code     string
		attempts int
	}{
		{"allowed", []error{apiErr("DryRunOperation")}, PermissionAllowed, "DryRunOperation", 1},
		{"denied", []error{apiErr("UnauthorizedOperation")}, PermissionDenied, "UnauthorizedOperation", 1},
		{"throttled then denied", []error{apiErr("RequestLimitExceeded"), errors.New("connection reset"), apiErr("UnauthorizedOperation")}, PermissionDenied, "UnauthorizedOperation", 3},
		{"always throttled", []error{apiErr("RequestLimitExceeded")}, PermissionUnknown, "RequestLimitExceeded", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDryRun{script: map[string][]error{"ec2:StopInstances": tc.script}}
			res := RunCheck(context.Background(), f, StopCheck("i-0aaaaaaaaaaaaaaa1", "node n2"), fastPolicy)
			if res.Verdict != tc.verdict || res.Code != tc.code || res.Attempts != tc.attempts {
				t.Errorf("got %+v, want verdict %s code %s after %d attempts", res, tc.verdict, tc.code, tc.attempts)
			}
			for i, d := range f.dry {
				if !d {
					t.Errorf("call %d was not a dry run", i)
				}
			}
		})
	}
	// A cancelled context ends the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeDryRun{script: map[string][]error{"ec2:StopInstances": {apiErr("RequestLimitExceeded")}}}
	slow := fastPolicy
	slow.Backoff = func(int) time.Duration { return time.Hour }
	if res := RunCheck(ctx, f, StopCheck("i-0aaaaaaaaaaaaaaa1", "x"), slow); res.Attempts != 1 || res.Verdict != PermissionUnknown {
		t.Errorf("cancelled: %+v", res)
	}
}

// TestResourceChecks: the checks a group's resources declare, asked
// through the registry (as the preflight does), each a DryRun call, and
// none without this node's instance id.
func TestResourceChecks(t *testing.T) {
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	reg := awsRegistry(t)
	self := "i-0ccccccccccccccc3"
	var all []PermissionCheck
	all = append(all, reg.PermissionChecks("aws.route", raw(RouteParams{Destination: "10.1.0.10/32", RouteTables: []string{"rtb-1", "rtb-2"}}), self)...)
	all = append(all, reg.PermissionChecks("aws.route", raw(RouteParams{Destination: "10.1.0.11", VPCID: "vpc-1"}), self)...) // tables found at run time: none
	all = append(all, reg.PermissionChecks("aws.eip", raw(EIPParams{AllocationID: "eipalloc-1"}), self)...)
	all = append(all, reg.PermissionChecks("aws.ebs", raw(EBSParams{VolumeID: "vol-1", Device: "/dev/xvdf"}), self)...)
	all = append(all, reg.PermissionChecks("aws.ebs", raw(EBSParams{VolumeID: "vol-2", MultiAttach: true}), self)...)
	all = append(all, reg.PermissionChecks("exec", raw(map[string]string{"start": "true"}), self)...)
	var got []string
	for _, c := range all {
		got = append(got, c.Key)
	}
	want := []string{"ec2:ReplaceRoute rtb-1", "ec2:ReplaceRoute rtb-2", "ec2:AssociateAddress eipalloc-1", "ec2:AttachVolume vol-1", "ec2:DetachVolume vol-1"}
	if len(got) != len(want) {
		t.Fatalf("checks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("checks %v, want %v", got, want)
		}
	}
	f := &fakeDryRun{script: map[string][]error{"ec2:AssociateAddress": {apiErr("UnauthorizedOperation")}}}
	for _, c := range all {
		res := RunCheck(context.Background(), f, c, fastPolicy)
		want := PermissionAllowed
		if c.Action == "ec2:AssociateAddress" {
			want = PermissionDenied
		}
		if res.Verdict != want {
			t.Errorf("%s: %s, want %s", c.Key, res.Verdict, want)
		}
	}
	for i, d := range f.dry {
		if !d {
			t.Errorf("call %d was not a dry run", i)
		}
	}
	if c := reg.PermissionChecks("aws.eip", raw(EIPParams{AllocationID: "eipalloc-1"}), ""); len(c) != 0 {
		t.Errorf("no instance id: %v", c)
	}
}
