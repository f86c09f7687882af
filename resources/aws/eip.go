package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/raftha/raftha/resources"
)

// EIPParams are the aws.eip resource's settings: an Elastic IP that
// follows the owner (clients outside the VPC reach the service through
// it; CLUSTERPRO's associate-address script, done as a resource type).
type EIPParams struct {
	// AllocationID is the Elastic IP's allocation id (eipalloc-...).
	AllocationID string `yaml:"allocation_id" json:"allocation_id"`
	// PrivateIP associates the Elastic IP with this private address of
	// the owner's primary network interface (primary or secondary) instead
	// of the interface's primary address. It implies network_interface.
	PrivateIP string `yaml:"private_ip" json:"private_ip,omitempty"`
	// NetworkInterface associates with the owner's primary network
	// interface rather than with the instance.
	NetworkInterface bool `yaml:"network_interface" json:"network_interface,omitempty"`
	// DisassociateOnStop disassociates the address on Stop when it is
	// still associated with this node (default: leave it; the next
	// owner's Start reassociates it).
	DisassociateOnStop bool `yaml:"disassociate_on_stop" json:"disassociate_on_stop,omitempty"`
}

// Validate implements resources.Validator.
func (p *EIPParams) Validate() error {
	var errs []error
	switch {
	case p.AllocationID == "":
		errs = append(errs, errors.New("allocation_id: required (the Elastic IP's allocation id, eipalloc-...)"))
	case !eipAllocationIDRE.MatchString(p.AllocationID):
		errs = append(errs, fmt.Errorf("allocation_id: expected an allocation id like eipalloc-0123456789abcdef0, got %q", p.AllocationID))
	}
	if p.PrivateIP != "" {
		if a, err := netip.ParseAddr(p.PrivateIP); err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("private_ip: expected an IPv4 address like 10.0.1.20, got %q", p.PrivateIP))
		}
	}
	return errors.Join(errs...)
}

// EIPType is the aws.eip resource type for a resources.Registry.
var EIPType = resources.Type{
	Name:      "aws.eip",
	NewParams: func() any { return &EIPParams{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*EIPParams)
		if !ok {
			return nil, fmt.Errorf("aws.eip: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		b, err := newEC2Base("aws.eip", env)
		if err != nil {
			return nil, err
		}
		return &EIP{ec2Base: b, p: *p}, nil
	},
}

// EIP is one aws.eip resource. Start associates the address with the
// owner (AllowReassociation: it moves from the old owner in one call) and
// reads it back; Check reads it back and repairs drift.
type EIP struct {
	*ec2Base
	p EIPParams
}

func (e *EIP) toENI() bool { return e.p.NetworkInterface || e.p.PrivateIP != "" }

// target is where the address must be associated.
type eipTarget struct {
	instance  string
	eni       string // set when associating with the interface
	privateIP string
}

// String describes the target for logs: "PRIVATE-IP on ENI (INSTANCE)",
// "ENI (INSTANCE)", or the instance id alone.
func (t eipTarget) String() string {
	if t.eni == "" {
		return t.instance
	}
	s := t.eni + " (" + t.instance + ")"
	if t.privateIP != "" {
		s = t.privateIP + " on " + s
	}
	return s
}

func (e *EIP) target(ctx context.Context) (eipTarget, error) {
	if err := e.needInstance(); err != nil {
		return eipTarget{}, err
	}
	t := eipTarget{instance: e.env.InstanceID}
	if !e.toENI() {
		return t, nil
	}
	o, err := e.ownerOf(ctx, true)
	if err != nil {
		return eipTarget{}, err
	}
	t.eni, t.privateIP = o.ENI, e.p.PrivateIP
	if t.privateIP != "" && !slices.Contains(o.PrivateIPs, t.privateIP) {
		// Ask again: a secondary address may have been assigned since.
		if o, err = e.ownerOf(ctx, false); err != nil {
			return eipTarget{}, err
		}
		if !slices.Contains(o.PrivateIPs, t.privateIP) {
			return eipTarget{}, fmt.Errorf("%s: private_ip %s is not an address of %s, the primary network interface of %s (it has %v)", e.kind, t.privateIP, o.ENI, o.Instance, o.PrivateIPs)
		}
	}
	return t, nil
}

// ours reports whether a is associated with t.
func (t eipTarget) ours(a types.Address) bool {
	if t.eni != "" {
		return deref(a.NetworkInterfaceId) == t.eni && (t.privateIP == "" || deref(a.PrivateIpAddress) == t.privateIP)
	}
	return deref(a.InstanceId) == t.instance
}

// holder describes where a is associated, for logs and errors.
func holder(a types.Address) string {
	switch {
	case a.AssociationId == nil && a.InstanceId == nil && a.NetworkInterfaceId == nil:
		return "not associated"
	case deref(a.InstanceId) != "" && deref(a.NetworkInterfaceId) != "":
		return fmt.Sprintf("%s on %s (%s)", deref(a.PrivateIpAddress), deref(a.NetworkInterfaceId), deref(a.InstanceId))
	case deref(a.NetworkInterfaceId) != "":
		return fmt.Sprintf("%s on %s", deref(a.PrivateIpAddress), deref(a.NetworkInterfaceId))
	case deref(a.InstanceId) != "":
		return deref(a.InstanceId)
	}
	return "not associated"
}

// Start implements resources.Resource.
func (e *EIP) Start(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	t, err := e.target(ctx)
	if err != nil {
		return err
	}
	assoc, err := e.associate(ctx, t)
	if err != nil {
		return err
	}
	a, err := e.verify(ctx, t)
	if err != nil {
		return err
	}
	e.log.Info("elastic IP associated with this node", tokenFields(tok, "allocation_id", e.p.AllocationID,
		"public_ip", deref(a.PublicIp), "target", t.String(), "association_id", assoc)...)
	return nil
}

// Stop implements resources.Resource. By default the address stays where
// it is: the next owner's Start reassociates it in one call, while
// disassociating would leave the service unreachable in between (and an
// address associated with a stopped instance is harmless). With
// disassociate_on_stop it is disassociated, but only while it is still
// associated with this node, by association id: a Stop that runs after
// the next owner took the address never takes it away again.
func (e *EIP) Stop(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	if !e.p.DisassociateOnStop {
		e.log.Debug("stop: elastic IP left associated for the next owner", tokenFields(tok, "allocation_id", e.p.AllocationID)...)
		return nil
	}
	t, err := e.target(ctx)
	if err != nil {
		return err
	}
	a, err := e.describe(ctx)
	if err != nil {
		return err
	}
	if !t.ours(a) || a.AssociationId == nil {
		e.log.Info("stop: elastic IP not associated with this node; nothing to disassociate", tokenFields(tok,
			"allocation_id", e.p.AllocationID, "associated", holder(a))...)
		return nil
	}
	cctx, cancel := e.call(ctx)
	_, err = e.client.DisassociateAddress(cctx, &ec2.DisassociateAddressInput{AssociationId: a.AssociationId}, ec2Opts(cctx))
	e.reads.forget(addressesKey) // the shared read may be stale now
	cancel()
	if err != nil {
		if apiErrorCode(err) == "InvalidAssociationID.NotFound" {
			return nil // gone already (another owner took it, or a retry)
		}
		return e.apiError("DisassociateAddress", fmt.Sprintf("%s (%s)", *a.AssociationId, e.p.AllocationID), err)
	}
	e.log.Info("stop: elastic IP disassociated", tokenFields(tok, "allocation_id", e.p.AllocationID,
		"public_ip", deref(a.PublicIp), "association_id", *a.AssociationId)...)
	return nil
}

// Check implements resources.Resource: the address must be associated
// with this node; if it is not, it is reassociated (a warning is logged)
// and Check fails only when that fails. It reads the address from the
// member's shared read (one DescribeAddresses for the checks of every
// aws.eip within SharedReadTTL, sharedreads.go).
func (e *EIP) Check(ctx context.Context, tok resources.Token) error {
	t, err := e.target(ctx)
	if err != nil {
		return err
	}
	a, err := e.describeShared(ctx)
	if err != nil {
		return err
	}
	if t.ours(a) {
		return nil
	}
	e.log.Warn("elastic IP drifted away from this node: repairing", tokenFields(tok, "allocation_id", e.p.AllocationID,
		"public_ip", deref(a.PublicIp), "target", t.String(), "was", holder(a))...)
	if _, err := e.associate(ctx, t); err != nil {
		return err
	}
	_, err = e.verify(ctx, t)
	return err
}

func (e *EIP) associate(ctx context.Context, t eipTarget) (string, error) {
	in := &ec2.AssociateAddressInput{AllocationId: aws.String(e.p.AllocationID), AllowReassociation: aws.Bool(true)}
	if t.eni != "" {
		in.NetworkInterfaceId = aws.String(t.eni)
		if t.privateIP != "" {
			in.PrivateIpAddress = aws.String(t.privateIP)
		}
	} else {
		in.InstanceId = aws.String(t.instance)
	}
	cctx, cancel := e.call(ctx)
	out, err := e.client.AssociateAddress(cctx, in, ec2Opts(cctx))
	e.reads.forget(addressesKey) // the shared read may be stale now
	cancel()
	if err != nil {
		return "", e.apiError("AssociateAddress", e.p.AllocationID+" -> "+t.String(), err)
	}
	return deref(out.AssociationId), nil
}

func (e *EIP) describe(ctx context.Context) (types.Address, error) {
	cctx, cancel := e.call(ctx)
	out, err := e.client.DescribeAddresses(cctx, &ec2.DescribeAddressesInput{AllocationIds: []string{e.p.AllocationID}}, ec2Opts(cctx))
	cancel()
	if err != nil {
		return types.Address{}, e.apiError("DescribeAddresses", e.p.AllocationID, err)
	}
	for _, a := range out.Addresses {
		if deref(a.AllocationId) == e.p.AllocationID {
			return a, nil
		}
	}
	return types.Address{}, fmt.Errorf("%s: DescribeAddresses %s: address not found", e.kind, e.p.AllocationID)
}

// describeShared is describe through the member's shared read of all
// its addresses; an address that read lacks is asked for directly.
func (e *EIP) describeShared(ctx context.Context) (types.Address, error) {
	all, err := e.reads.addresses(ctx, e.timeout, e.apiError)
	if err != nil {
		return types.Address{}, err
	}
	for _, a := range all {
		if deref(a.AllocationId) == e.p.AllocationID {
			return a, nil
		}
	}
	return e.describe(ctx)
}

// verify reads the address back until it is associated with t.
func (e *EIP) verify(ctx context.Context, t eipTarget) (types.Address, error) {
	var a types.Address
	complaint, err := readBack(ctx, func(ctx context.Context) (string, error) {
		var err error
		if a, err = e.describe(ctx); err != nil {
			return "", err
		}
		if t.ours(a) {
			return "", nil
		}
		return holder(a), nil
	})
	if err != nil {
		return a, err
	}
	if complaint != "" {
		return a, fmt.Errorf("%s: read-back: %s (%s) is associated with %s, not %s", e.kind, e.p.AllocationID, deref(a.PublicIp), complaint, t)
	}
	return a, nil
}
