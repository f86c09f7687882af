package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// defaultCallTimeout bounds one EC2 API call when Env.CallTimeout is 0.
const defaultCallTimeout = 10 * time.Second

// EC2 id shapes (the hex part is 8 hex digits for old ids, 17 for new).
var (
	routeTableIDRE    = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
	vpcIDRE           = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	eipAllocationIDRE = regexp.MustCompile(`^eipalloc-[0-9a-f]{8,17}$`)
)

// ec2Base is what the EC2 resource types share: one client over the
// process's aws.Config, the per-call deadline, the logger and the owner
// (this node's instance and its primary network interface).
type ec2Base struct {
	kind    string // type name, prefixes every error
	client  *ec2.Client
	env     resources.Env
	log     hclog.Logger
	timeout time.Duration

	mu    sync.Mutex
	owner *ownerInfo // cached primary ENI (it cannot change for an instance)

	reads *sharedReads // the member's reads shared by Check (sharedreads.go)
}

func newEC2Base(kind string, env resources.Env) (*ec2Base, error) {
	if ConfigOf(env) == nil {
		return nil, fmt.Errorf("%s: this member has no AWS configuration: set aws.region (and aws.instance_id) in its configuration", kind)
	}
	b := &ec2Base{kind: kind, client: resourceEC2(ConfigOf(env)), env: env, log: env.Logger, timeout: env.CallTimeout}
	b.reads = readsOf(ConfigOf(env), b.client)
	if b.log == nil {
		b.log = hclog.NewNullLogger()
	}
	if b.timeout <= 0 {
		b.timeout = defaultCallTimeout
	}
	return b, nil
}

// call returns ctx bounded by the per-call deadline.
func (b *ec2Base) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.timeout)
}

// apiError describes a failed call as "kind: Op what: Code: message"
// and keeps err reachable for errors.As (apiErrorCode).
func (b *ec2Base) apiError(op, what string, err error) error {
	return newCallError(err, "%s: %s %s", b.kind, op, what)
}

// newCallError is err described as "WHAT: Code: message", WHAT being
// format and args, with err reachable for errors.As and errors.Is (an
// AWS error code, or a deadline the caller tries again after).
func newCallError(err error, format string, args ...any) error {
	return &callError{msg: fmt.Sprintf(format, args...) + ": " + describeAPIError(err), err: err}
}

type callError struct {
	msg string
	err error
}

// Error returns the "kind: Op what: Code: message" description.
func (e *callError) Error() string { return e.msg }

// Unwrap returns the SDK error, for errors.As (apiErrorCode).
func (e *callError) Unwrap() error { return e.err }

// tokenFields are the fencing token as hclog key/values.
func tokenFields(tok resources.Token, kv ...any) []any {
	return append([]any{"group", tok.Group, "node", tok.Node, "epoch", tok.Epoch, "resource", tok.Resource}, kv...)
}

// apiErrorCode returns the AWS error code of err, or "".
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// needInstance fails when this node's instance id is unknown (off EC2,
// or aws.instance_id unset).
func (b *ec2Base) needInstance() error {
	if b.env.InstanceID == "" {
		return fmt.Errorf("%s: this node's EC2 instance id is unknown: set aws.instance_id (auto, or i-...) in its member configuration", b.kind)
	}
	return nil
}

// ownerInfo is this node's instance as EC2 describes it.
type ownerInfo struct {
	Instance string
	ENI      string // primary network interface (device index 0)
	VPC      string
	// PrivateIPs are the primary ENI's private addresses, primary first.
	PrivateIPs []string
	// SourceDestCheck is the primary ENI's source/destination check
	// (nil when EC2 did not say).
	SourceDestCheck *bool
}

// ownerShared describes this node's instance as ownerOf without its
// cache does, through the member's shared reads: every resource's Check
// shares one DescribeInstances per SharedReadTTL.
func (b *ec2Base) ownerShared(ctx context.Context) (ownerInfo, error) {
	if err := b.needInstance(); err != nil {
		return ownerInfo{}, err
	}
	v, err := b.reads.get(ctx, instanceKey(b.env.InstanceID), func(ctx context.Context) (any, error) {
		return b.ownerOf(ctx, false)
	})
	if err != nil {
		return ownerInfo{}, err
	}
	return v.(ownerInfo), nil
}

// ownerOf describes this node's instance. With cached, a previous answer
// is reused (the primary ENI of an instance never changes); without, EC2
// is asked again (for the source/dest check flag).
func (b *ec2Base) ownerOf(ctx context.Context, cached bool) (ownerInfo, error) {
	if err := b.needInstance(); err != nil {
		return ownerInfo{}, err
	}
	if cached {
		b.mu.Lock()
		o := b.owner
		b.mu.Unlock()
		if o != nil {
			return *o, nil
		}
	}
	cctx, cancel := b.call(ctx)
	out, err := b.client.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: []string{b.env.InstanceID}}, ec2Opts(cctx))
	cancel()
	if err != nil {
		return ownerInfo{}, b.apiError("DescribeInstances", b.env.InstanceID, err)
	}
	var inst *types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if r.Instances[i].InstanceId != nil && *r.Instances[i].InstanceId == b.env.InstanceID {
				inst = &r.Instances[i]
			}
		}
	}
	if inst == nil {
		return ownerInfo{}, fmt.Errorf("%s: DescribeInstances %s: instance not found", b.kind, b.env.InstanceID)
	}
	var eni *types.InstanceNetworkInterface
	for i := range inst.NetworkInterfaces {
		n := &inst.NetworkInterfaces[i]
		if n.Attachment != nil && n.Attachment.DeviceIndex != nil && *n.Attachment.DeviceIndex == 0 &&
			(n.Attachment.NetworkCardIndex == nil || *n.Attachment.NetworkCardIndex == 0) {
			eni = n
			break
		}
	}
	if eni == nil && len(inst.NetworkInterfaces) > 0 {
		eni = &inst.NetworkInterfaces[0]
	}
	if eni == nil || eni.NetworkInterfaceId == nil {
		return ownerInfo{}, fmt.Errorf("%s: instance %s has no network interface", b.kind, b.env.InstanceID)
	}
	o := ownerInfo{Instance: b.env.InstanceID, ENI: *eni.NetworkInterfaceId, SourceDestCheck: eni.SourceDestCheck}
	switch {
	case eni.VpcId != nil:
		o.VPC = *eni.VpcId
	case inst.VpcId != nil:
		o.VPC = *inst.VpcId
	}
	if eni.PrivateIpAddress != nil {
		o.PrivateIPs = append(o.PrivateIPs, *eni.PrivateIpAddress)
	}
	for _, a := range eni.PrivateIpAddresses {
		if a.PrivateIpAddress != nil && !slices.Contains(o.PrivateIPs, *a.PrivateIpAddress) {
			o.PrivateIPs = append(o.PrivateIPs, *a.PrivateIpAddress)
		}
	}
	b.mu.Lock()
	b.owner = &o
	b.mu.Unlock()
	return o, nil
}

// readBack polls check until it reports done (EC2's Describe calls are
// eventually consistent: a read right after a write may be stale), an
// error, or the attempts run out; it returns check's last complaint.
func readBack(ctx context.Context, check func(ctx context.Context) (complaint string, err error)) (string, error) {
	delay := 100 * time.Millisecond
	const attempts = 5
	var complaint string
	for i := 0; i < attempts; i++ {
		var err error
		complaint, err = check(ctx)
		if err != nil || complaint == "" {
			return complaint, err
		}
		if i == attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return complaint, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
	return complaint, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
