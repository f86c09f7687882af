package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/resources"
)

// Verdict is the outcome of a DryRun permission check.
type Verdict = cloud.Verdict

// The verdicts of a permission check.
const (
	// PermissionAllowed: EC2 answered DryRunOperation (the call would
	// have been allowed).
	PermissionAllowed = cloud.PermissionAllowed
	// PermissionDenied: EC2 answered UnauthorizedOperation (or an
	// AccessDenied from an emulator): the identity lacks the action.
	PermissionDenied = cloud.PermissionDenied
	// PermissionUnknown: any other answer (network, throttling, a
	// parameter EC2 validates before the permission); retried.
	PermissionUnknown = cloud.PermissionUnknown
)

// AWS error codes of a DryRun answer.
const (
	codeDryRun       = "DryRunOperation"
	codeUnauthorized = "UnauthorizedOperation"
	// codeAccessDenied is what moto_server answers for a denied EC2
	// action (real EC2 says UnauthorizedOperation).
	codeAccessDenied = "AccessDenied"
)

// ClassifyDryRun maps the answer to a DryRun call to a verdict:
// DryRunOperation is allowed, UnauthorizedOperation (or AccessDenied) is
// denied, anything else, a nil error included, is unknown. A nil error
// cannot be a verdict: a DryRun call that succeeds was not a dry run.
func ClassifyDryRun(err error) Verdict {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case codeDryRun:
			return PermissionAllowed
		case codeUnauthorized, codeAccessDenied:
			return PermissionDenied
		}
	}
	return PermissionUnknown
}

// DryRunAPI is the part of the EC2 API the permission checks call, always
// with DryRun set. *ec2.Client implements it; tests use fakes.
type DryRunAPI interface {
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, opts ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	ReplaceRoute(ctx context.Context, in *ec2.ReplaceRouteInput, opts ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	AssociateAddress(ctx context.Context, in *ec2.AssociateAddressInput, opts ...func(*ec2.Options)) (*ec2.AssociateAddressOutput, error)
	AttachVolume(ctx context.Context, in *ec2.AttachVolumeInput, opts ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error)
	DetachVolume(ctx context.Context, in *ec2.DetachVolumeInput, opts ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error)
}

// PermissionCheck is one DryRun call that shows whether this node may
// make an EC2 call it will need at a failover: the fencer's StopInstances
// (StopCheck) or a call a resource type declares
// (resources.PermissionDeclarer). Its Call takes the DryRunAPI the checks
// are made through.
type PermissionCheck = resources.PermissionCheck

// errNoDryRunAPI is the answer of a check called without a DryRunAPI.
var errNoDryRunAPI = errors.New("aws: permission check: the client is not an EC2 DryRunAPI")

// dryRunCall adapts a call on DryRunAPI to PermissionCheck.Call.
func dryRunCall(call func(ctx context.Context, api DryRunAPI) error) func(ctx context.Context, client any) error {
	return func(ctx context.Context, client any) error {
		api, ok := client.(DryRunAPI)
		if !ok {
			return fmt.Errorf("%w (%T)", errNoDryRunAPI, client)
		}
		return call(ctx, api)
	}
}

// StopCheck is the check of ec2:StopInstances on instance (a peer's,
// which this node stops to fence it); what describes it.
func StopCheck(instance, what string) PermissionCheck {
	return PermissionCheck{Action: "ec2:StopInstances", Target: instance + " (" + what + ")", Key: "ec2:StopInstances",
		Call: dryRunCall(func(ctx context.Context, api DryRunAPI) error {
			_, err := api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{instance}, Force: aws.Bool(true), DryRun: aws.Bool(true)})
			return err
		})}
}

// routeDestination is a ReplaceRouteInput with the destination of an
// aws.route set (an address is a host route); nil when it does not parse.
func routeDestination(dest string) *ec2.ReplaceRouteInput {
	pfx, err := netip.ParsePrefix(dest)
	if err != nil {
		a, aerr := netip.ParseAddr(dest)
		if aerr != nil {
			return nil
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Is4() {
		return &ec2.ReplaceRouteInput{DestinationCidrBlock: aws.String(pfx.Masked().String())}
	}
	return &ec2.ReplaceRouteInput{DestinationIpv6CidrBlock: aws.String(pfx.Masked().String())}
}

// PermissionResult is the outcome of one check.
type PermissionResult = cloud.PermissionResult

// CheckPolicy bounds how a check is retried while its answer is unknown.
type CheckPolicy struct {
	// Attempts is the most calls made (default 6).
	Attempts int
	// CallTimeout bounds each call (default 10s).
	CallTimeout time.Duration
	// Backoff is the wait before retry n (1-based); default 1s doubling,
	// at most 30s.
	Backoff func(n int) time.Duration
}

// RunCheck makes c's DryRun call until it gives a verdict (allowed or
// denied), retrying an unknown answer with backoff up to p.Attempts
// calls or until ctx ends; it then returns the last unknown answer.
func RunCheck(ctx context.Context, api DryRunAPI, c PermissionCheck, p CheckPolicy) PermissionResult {
	if p.Attempts <= 0 {
		p.Attempts = 6
	}
	if p.CallTimeout <= 0 {
		p.CallTimeout = defaultCallTimeout
	}
	if p.Backoff == nil {
		p.Backoff = func(n int) time.Duration { return min(time.Second<<min(n-1, 5), 30*time.Second) }
	}
	var res PermissionResult
	for res.Attempts < p.Attempts {
		cctx, cancel := context.WithTimeout(ctx, p.CallTimeout)
		err := c.Call(cctx, api)
		cancel()
		res.Attempts++
		res.Verdict, res.Code, res.Message = ClassifyDryRun(err), "", "no error (the call was not a dry run)"
		if err != nil {
			res.Code, res.Message = ErrorCode(err), describeAPIError(err)
		}
		if res.Verdict != PermissionUnknown || res.Attempts == p.Attempts {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-time.After(p.Backoff(res.Attempts)):
		}
	}
	return res
}

// permissions is the cloud.Permissions of the AWS provider: DryRun calls
// through api, retried by policy.
type permissions struct {
	api    DryRunAPI
	policy CheckPolicy
}

// NewPermissions returns the AWS permission checks made through api (an
// *ec2.Client, or a fake in tests), retried by policy.
func NewPermissions(api DryRunAPI, policy CheckPolicy) cloud.Permissions {
	return permissions{api: api, policy: policy}
}

func (p permissions) wrap(c PermissionCheck) cloud.PermissionCheck {
	return cloud.PermissionCheck{Action: c.Action, Target: c.Target, Key: c.Key,
		Run: func(ctx context.Context) cloud.PermissionResult { return RunCheck(ctx, p.api, c, p.policy) }}
}

// StopCheck implements cloud.Permissions.
func (p permissions) StopCheck(instance, what string) cloud.PermissionCheck {
	return p.wrap(StopCheck(instance, what))
}

// Declared implements cloud.Permissions: c runs through the provider's
// EC2 client, retried by its policy.
func (p permissions) Declared(c resources.PermissionCheck) cloud.PermissionCheck {
	return p.wrap(c)
}
