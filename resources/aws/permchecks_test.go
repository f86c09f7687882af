package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/builtin/core"
)

// awsRegistry is builtin.Registry (which this package's tests cannot
// import): the core types and the AWS types.
func awsRegistry(t *testing.T) *resources.Registry {
	t.Helper()
	reg := core.Registry()
	for _, typ := range []resources.Type{RouteType, EIPType, DNSType, EBSType} {
		if err := reg.Register(typ); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// recordDryRun answers every call DryRunOperation and records each call's
// action and input, so two sets of checks can be compared call for call.
type recordDryRun struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordDryRun) record(action string, in any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s %+v", action, in))
	return apiErr(codeDryRun)
}

func (r *recordDryRun) StopInstances(_ context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return nil, r.record("StopInstances", show(*in))
}
func (r *recordDryRun) ReplaceRoute(_ context.Context, in *ec2.ReplaceRouteInput, _ ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error) {
	return nil, r.record("ReplaceRoute", show(*in))
}
func (r *recordDryRun) AssociateAddress(_ context.Context, in *ec2.AssociateAddressInput, _ ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error) {
	return nil, r.record("AssociateAddress", show(*in))
}
func (r *recordDryRun) AttachVolume(_ context.Context, in *ec2.AttachVolumeInput, _ ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	return nil, r.record("AttachVolume", show(*in))
}
func (r *recordDryRun) DetachVolume(_ context.Context, in *ec2.DetachVolumeInput, _ ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	return nil, r.record("DetachVolume", show(*in))
}

// show renders an input struct with its pointer fields dereferenced.
func show(in any) string {
	v := reflect.ValueOf(in)
	out := ""
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || f.IsZero() {
			continue
		}
		if f.Kind() == reflect.Pointer {
			f = f.Elem()
		}
		out += fmt.Sprintf("%s=%v ", v.Type().Field(i).Name, f.Interface())
	}
	return out
}

// TestDeclaredChecksMatchTypeSwitch: the checks the AWS types declare,
// asked through the registry, are the checks the removed type switch
// (legacyResourceChecks, kept verbatim below) gave for the same resource:
// same keys, actions and targets, and the same DryRun call with the same
// input, for representative resources of every kind, malformed ones and
// types that need none.
func TestDeclaredChecksMatchTypeSwitch(t *testing.T) {
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	reg := awsRegistry(t)
	type res struct {
		typ    string
		params json.RawMessage
	}
	groups := map[string][]res{
		"route-vip": {
			{"aws.route", raw(RouteParams{Destination: "10.1.0.10/32", RouteTables: []string{"rtb-1", "rtb-2"}})},
			{"aws.route", raw(RouteParams{Destination: "10.1.0.11", RouteTables: []string{"rtb-3"}})},
			{"aws.route", raw(RouteParams{Destination: "10.1.7.0/24", RouteTables: []string{"rtb-4"}})},
			{"aws.route", raw(RouteParams{Destination: "fd00::10", RouteTables: []string{"rtb-6"}})},
			{"aws.route", raw(RouteParams{Destination: "10.1.0.12", VPCID: "vpc-1"})},
			{"aws.route", raw(RouteParams{Destination: "not-an-address", RouteTables: []string{"rtb-5"}})},
			{"exec", raw(map[string]string{"start": "true"})},
		},
		"eip-db": {
			{"aws.eip", raw(EIPParams{AllocationID: "eipalloc-1", DisassociateOnStop: true})},
			{"aws.eip", raw(EIPParams{})},
			{"aws.ebs", raw(EBSParams{VolumeID: "vol-1", Device: "/dev/xvdf"})},
			{"aws.ebs", raw(EBSParams{VolumeID: "vol-2"})},
			{"aws.ebs", raw(EBSParams{VolumeID: "vol-3", MultiAttach: true})},
			{"aws.dns", raw(DNSParams{HostedZoneID: "Z0123", Name: "db.example.internal"})},
		},
		"odd": {
			{"aws.eip", json.RawMessage(`{"allocation_id": 7}`)},
			{"aws.ebs", json.RawMessage(`not json`)},
			{"aws.route", nil},
			{"acme.unknown", raw(map[string]string{"x": "y"})},
		},
	}
	for _, self := range []string{"i-0ccccccccccccccc3", ""} {
		for name, rs := range groups {
			var oldChecks, newChecks []string
			oldAPI, newAPI := &recordDryRun{}, &recordDryRun{}
			for _, r := range rs {
				for _, c := range legacyResourceChecks(r.typ, r.params, self) {
					oldChecks = append(oldChecks, c.Key+" | "+c.Action+" | "+c.Target)
					if err := c.call(context.Background(), oldAPI); ClassifyDryRun(err) != PermissionAllowed {
						t.Fatalf("legacy %s: %v", c.Key, err)
					}
				}
				for _, c := range reg.PermissionChecks(r.typ, r.params, self) {
					newChecks = append(newChecks, c.Key+" | "+c.Action+" | "+c.Target)
					if err := c.Call(context.Background(), newAPI); ClassifyDryRun(err) != PermissionAllowed {
						t.Fatalf("declared %s: %v", c.Key, err)
					}
				}
			}
			if !reflect.DeepEqual(oldChecks, newChecks) {
				t.Errorf("group %s self %q: checks\n%q\nwant (type switch)\n%q", name, self, newChecks, oldChecks)
			}
			if !reflect.DeepEqual(oldAPI.calls, newAPI.calls) {
				t.Errorf("group %s self %q: DryRun calls\n%q\nwant (type switch)\n%q", name, self, newAPI.calls, oldAPI.calls)
			}
			if self != "" && name != "odd" && len(newChecks) == 0 {
				t.Errorf("group %s: no checks at all: the comparison proves nothing", name)
			}
		}
	}
}

// rebootAPI is the EC2 call the custom type of TestCustomTypeDeclaresCheck
// checks; *ec2.Client has it.
type rebootAPI interface {
	RebootInstances(ctx context.Context, in *ec2.RebootInstancesInput, opts ...func(*ec2.Options)) (*ec2.RebootInstancesOutput, error)
}

// rebootParams are the parameters of the custom type acme.reboot.
type rebootParams struct {
	Instance string `yaml:"instance" json:"instance"`
}

// PermissionChecks implements resources.PermissionDeclarer.
func (p *rebootParams) PermissionChecks(self string) []resources.PermissionCheck {
	return []resources.PermissionCheck{{Action: "ec2:RebootInstances", Target: p.Instance + " (from " + self + ")", Key: "ec2:RebootInstances " + p.Instance,
		Call: func(ctx context.Context, client any) error {
			api, ok := client.(rebootAPI)
			if !ok {
				return fmt.Errorf("client %T cannot reboot", client)
			}
			_, err := api.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{p.Instance}, DryRun: aws.Bool(true)})
			return err
		}}}
}

type nopResource struct{}

func (nopResource) Start(context.Context, resources.Token) error { return nil }
func (nopResource) Stop(context.Context, resources.Token) error  { return nil }
func (nopResource) Check(context.Context, resources.Token) error { return nil }

// rebootDryRun is a DryRunAPI that can also reboot (denied), as
// *ec2.Client can.
type rebootDryRun struct {
	fakeDryRun
	reboots []string
}

func (f *rebootDryRun) RebootInstances(_ context.Context, in *ec2.RebootInstancesInput, _ ...func(*ec2.Options)) (*ec2.RebootInstancesOutput, error) {
	f.mu.Lock()
	f.reboots = append(f.reboots, fmt.Sprint(in.InstanceIds, aws.ToBool(in.DryRun)))
	f.mu.Unlock()
	return nil, apiErr(codeUnauthorized)
}

// TestCustomTypeDeclaresCheck: a type an embedding service registers
// declares its own start-up check; the registry hands it to the provider
// (cloud.Permissions.Declared) like the built-in types' checks, and the
// provider makes its DryRun call through the EC2 client and classifies the
// answer. A client without the call the type needs gives no verdict.
func TestCustomTypeDeclaresCheck(t *testing.T) {
	reg := awsRegistry(t)
	if err := reg.Register(resources.Type{Name: "acme.reboot", NewParams: func() any { return &rebootParams{} },
		Build: func(any, resources.Env) (resources.Resource, error) { return nopResource{}, nil }}); err != nil {
		t.Fatal(err)
	}
	checks := reg.PermissionChecks("acme.reboot", json.RawMessage(`{"instance":"i-0ddddddddddddddd4"}`), "i-0ccccccccccccccc3")
	if len(checks) != 1 || checks[0].Key != "ec2:RebootInstances i-0ddddddddddddddd4" {
		t.Fatalf("checks %+v", checks)
	}
	api := &rebootDryRun{}
	c := NewPermissions(api, fastPolicy).Declared(checks[0])
	if c.Action != "ec2:RebootInstances" || c.Target != "i-0ddddddddddddddd4 (from i-0ccccccccccccccc3)" {
		t.Errorf("wrapped check %+v", c)
	}
	res := c.Run(context.Background())
	if res.Verdict != PermissionDenied || res.Code != codeUnauthorized || res.Attempts != 1 {
		t.Errorf("result %+v, want denied after 1 call", res)
	}
	if want := []string{"[i-0ddddddddddddddd4] true"}; !reflect.DeepEqual(api.reboots, want) {
		t.Errorf("reboot calls %v, want %v", api.reboots, want)
	}
	res = NewPermissions(&fakeDryRun{}, fastPolicy).Declared(checks[0]).Run(context.Background())
	if res.Verdict != PermissionUnknown || res.Attempts != fastPolicy.Attempts {
		t.Errorf("client without RebootInstances: %+v, want unknown after %d calls", res, fastPolicy.Attempts)
	}
}
