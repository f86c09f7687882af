package aws_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/ebsdev"
)

func (f *dnsebsFixture) volume(t *testing.T, multiAttach bool) string {
	t.Helper()
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(f.az), Size: aws.Int32(8), VolumeType: ec2types.VolumeTypeGp3}
	if multiAttach {
		in.VolumeType, in.Iops, in.MultiAttachEnabled = ec2types.VolumeTypeIo2, aws.Int32(1000), aws.Bool(true)
	}
	out, err := f.ec2.CreateVolume(dnsebsCtx(t), in)
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	return *out.VolumeId
}

// attachments returns instance:state for each attachment, and the volume
// state.
func (f *dnsebsFixture) attachments(t *testing.T, vol string) ([]string, ec2types.VolumeState) {
	t.Helper()
	out, err := f.ec2.DescribeVolumes(dnsebsCtx(t), &ec2.DescribeVolumesInput{VolumeIds: []string{vol}})
	if err != nil || len(out.Volumes) != 1 {
		t.Fatalf("DescribeVolumes %s: %v", vol, err)
	}
	var s []string
	for _, a := range out.Volumes[0].Attachments {
		s = append(s, fmt.Sprintf("%s:%s", aws.ToString(a.InstanceId), a.State))
	}
	return s, out.Volumes[0].State
}

func wantAttachments(t *testing.T, f *dnsebsFixture, vol string, state ec2types.VolumeState, want ...string) {
	t.Helper()
	got, st := f.attachments(t, vol)
	if st != state || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("volume %s: %s %v, want %s %v", vol, st, got, state, want)
	}
}

// detachRecorder records every DetachVolume request the resource sends.
type detachRecorder struct {
	mu   sync.Mutex
	seen []ec2.DetachVolumeInput
}

func (d *detachRecorder) env(f *dnsebsFixture, t *testing.T, instanceID string) resources.Env {
	env := f.env(t, instanceID)
	cfg := f.cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("recordDetach",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*ec2.DetachVolumeInput); ok {
					d.mu.Lock()
					d.seen = append(d.seen, *p)
					d.mu.Unlock()
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
	env.Cloud = &cfg
	return env
}

func (d *detachRecorder) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s []string
	for _, p := range d.seen {
		s = append(s, fmt.Sprintf("%s force=%t", aws.ToString(p.InstanceId), aws.ToBool(p.Force)))
	}
	return s
}

func ebsTok(node string, epoch uint64) resources.Token {
	return resources.Token{Group: "db", Node: node, Epoch: epoch, Resource: "disk"}
}

func TestEBSAttachFailoverStop(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	vol := f.volume(t, false)

	// The host side: a by-id link for the volume, as udev makes on Nitro.
	// The resource resolves it through Env.ResolveVolume, as the agent
	// passes it (ebsdev), here looking in a temporary by-id directory.
	dir := t.TempDir()
	host := ebsdev.Finder{ByIDDir: filepath.Join(dir, "by-id")}
	if err := os.MkdirAll(host.ByIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nvme1n1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(host.ByIDDir, "nvme-Amazon_Elastic_Block_Store_"+strings.Replace(vol, "-", "", 1))
	if err := os.Symlink("../nvme1n1", link); err != nil {
		t.Fatal(err)
	}

	var rec detachRecorder
	params := fmt.Sprintf("volume_id: %s\ndevice: /dev/xvdf\nwait_timeout: 30s\n", vol)
	envA, envB := rec.env(f, t, a), rec.env(f, t, b)
	envA.ResolveVolume, envB.ResolveVolume = host.DevicePath, host.DevicePath
	ra := dnsebsMustBuild(t, awsres.EBSType, params, envA)
	rb := dnsebsMustBuild(t, awsres.EBSType, params, envB)
	ctx := dnsebsCtx(t)

	if err := ra.Check(ctx, ebsTok("a", 1)); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Fatalf("check before start: %v", err)
	}
	if err := ra.Start(ctx, ebsTok("a", 1)); err != nil {
		t.Fatalf("start on A: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, a+":attached")
	if !strings.Contains(f.logged(), "device="+filepath.Join(dir, "nvme1n1")) {
		t.Fatalf("start did not log the resolved device:\n%s", f.logged())
	}
	if err := ra.Start(ctx, ebsTok("a", 1)); err != nil {
		t.Fatalf("start on A again (idempotent): %v", err)
	}
	if err := ra.Check(ctx, ebsTok("a", 1)); err != nil {
		t.Fatalf("check on A: %v", err)
	}
	if c := rec.calls(); len(c) != 0 {
		t.Fatalf("detaches before the failover: %v", c)
	}

	// Failover: A crashed (fenced) with the volume still attached.
	if err := rb.Start(ctx, ebsTok("b", 2)); err != nil {
		t.Fatalf("start on B: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, b+":attached")
	if c := rec.calls(); strings.Join(c, ";") != a+" force=true" {
		t.Fatalf("detach calls %v, want one forced detach from A", c)
	}
	if err := rb.Check(ctx, ebsTok("b", 2)); err != nil {
		t.Fatalf("check on B: %v", err)
	}
	if err := ra.Check(ctx, ebsTok("a", 1)); err == nil || !strings.Contains(err.Error(), b) {
		t.Fatalf("check on A after the failover should fail naming B: %v", err)
	}

	// Stop detaches (gracefully), and is idempotent.
	if err := rb.Stop(ctx, ebsTok("b", 2)); err != nil {
		t.Fatalf("stop on B: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateAvailable)
	if c := rec.calls(); len(c) != 2 || c[1] != b+" force=false" {
		t.Fatalf("detach calls %v, want a graceful detach from B last", c)
	}
	if err := rb.Stop(ctx, ebsTok("b", 2)); err != nil {
		t.Fatalf("stop on B again: %v", err)
	}
	if err := ra.Stop(ctx, ebsTok("a", 1)); err != nil {
		t.Fatalf("stop on A (not attached): %v", err)
	}
	if c := rec.calls(); len(c) != 2 {
		t.Fatalf("idempotent stops sent detaches: %v", c)
	}
	// And back to A from a clean state.
	if err := ra.Start(ctx, ebsTok("a", 3)); err != nil {
		t.Fatalf("start on A after stop: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, a+":attached")
}

func TestEBSForceDetachOff(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	vol := f.volume(t, false)
	var rec detachRecorder
	params := fmt.Sprintf("volume_id: %s\ndevice: /dev/sdf\nforce_detach: false\n", vol)
	ra := dnsebsMustBuild(t, awsres.EBSType, params, rec.env(f, t, a))
	rb := dnsebsMustBuild(t, awsres.EBSType, params, rec.env(f, t, b))
	ctx := dnsebsCtx(t)
	if err := ra.Start(ctx, ebsTok("a", 1)); err != nil {
		t.Fatalf("start on A: %v", err)
	}
	if err := rb.Start(ctx, ebsTok("b", 2)); err != nil {
		t.Fatalf("start on B: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, b+":attached")
	if c := rec.calls(); strings.Join(c, ";") != a+" force=false" {
		t.Fatalf("detach calls %v, want one graceful detach from A", c)
	}
}

func TestEBSMultiAttachOnlyVerifies(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	vol := f.volume(t, true)
	// The operator attached the volume (to B only: moto keeps one
	// attachment per volume, so it cannot hold both).
	if _, err := f.ec2.AttachVolume(dnsebsCtx(t), &ec2.AttachVolumeInput{
		VolumeId: aws.String(vol), InstanceId: aws.String(b), Device: aws.String("/dev/sdf"),
	}); err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	var rec detachRecorder
	params := fmt.Sprintf("volume_id: %s\nmulti_attach: true\n", vol) // no device needed
	ra := dnsebsMustBuild(t, awsres.EBSType, params, rec.env(f, t, a))
	rb := dnsebsMustBuild(t, awsres.EBSType, params, rec.env(f, t, b))
	ctx := dnsebsCtx(t)

	if err := rb.Start(ctx, ebsTok("b", 1)); err != nil {
		t.Fatalf("start on B (attached there): %v", err)
	}
	if err := rb.Check(ctx, ebsTok("b", 1)); err != nil {
		t.Fatalf("check on B: %v", err)
	}
	err := ra.Start(ctx, ebsTok("a", 2))
	if err == nil || !strings.Contains(err.Error(), "not attached to this instance "+a) || !strings.Contains(err.Error(), "attach it to every node") {
		t.Fatalf("start on A (not attached there) should fail clearly: %v", err)
	}
	t.Logf("error: %v", err)
	if err := ra.Check(ctx, ebsTok("a", 2)); err == nil {
		t.Fatal("check on A should fail")
	}
	// Stop never detaches a multi-attach volume.
	if err := rb.Stop(ctx, ebsTok("b", 1)); err != nil {
		t.Fatalf("stop on B: %v", err)
	}
	wantAttachments(t, f, vol, ec2types.VolumeStateInUse, b+":attached")
	if c := rec.calls(); len(c) != 0 {
		t.Fatalf("multi_attach sent detaches: %v", c)
	}

	// multi_attach on a volume without Multi-Attach says so.
	single := f.volume(t, false)
	rs := dnsebsMustBuild(t, awsres.EBSType, fmt.Sprintf("volume_id: %s\nmulti_attach: true\n", single), f.env(t, a))
	if err := rs.Start(ctx, ebsTok("a", 3)); err == nil || !strings.Contains(err.Error(), "does not have Multi-Attach enabled") {
		t.Fatalf("multi_attach on a single-attach volume: %v", err)
	}
}

func TestEBSBadVolumeID(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	r := dnsebsMustBuild(t, awsres.EBSType, "volume_id: vol-0000000000000dead\ndevice: /dev/xvdf\n", f.env(t, a))
	ctx := dnsebsCtx(t)
	for name, call := range map[string]func(context.Context, resources.Token) error{"start": r.Start, "stop": r.Stop, "check": r.Check} {
		err := call(ctx, ebsTok("a", 1))
		if err == nil || !strings.Contains(err.Error(), "vol-0000000000000dead") || !strings.Contains(err.Error(), "InvalidVolume.NotFound") {
			t.Fatalf("%s with an unknown volume: %v", name, err)
		}
	}
}

func TestEBSParamsValidateNamesKeys(t *testing.T) {
	cases := map[string]*awsres.EBSParams{
		"volume_id":    {Device: "/dev/xvdf"},
		"volume_id: ":  {VolumeID: "volume-1", Device: "/dev/xvdf"},
		"device":       {VolumeID: "vol-0abc"},
		"device: ":     {VolumeID: "vol-0abc", Device: "xvdf"},
		"force_detach": {VolumeID: "vol-0abc", MultiAttach: true, ForceDetach: aws.Bool(true)},
		"wait_timeout": {VolumeID: "vol-0abc", Device: "/dev/xvdf", WaitTimeout: "-1s"},
	}
	for key, p := range cases {
		key = strings.TrimSuffix(key, ": ")
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: error %v does not name %s", p, err, key)
		}
	}
	ok := &awsres.EBSParams{VolumeID: "vol-0abc", MultiAttach: true}
	if err := ok.Validate(); err != nil {
		t.Errorf("multi_attach without device: %v", err)
	}
	if _, err := awsres.EBSType.Build(ok, resources.Env{InstanceID: "i-1"}); err == nil || !strings.Contains(err.Error(), "AWS") {
		t.Errorf("build without an AWS configuration: %v", err)
	}
}
