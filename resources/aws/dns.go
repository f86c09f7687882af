package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// DNSParams are the aws.dns resource's settings: one Route 53 record that
// names the owner (CLUSTERPRO's "AWS DNS resource").
type DNSParams struct {
	// HostedZoneID is the hosted zone (Z..., or /hostedzone/Z...). Required.
	HostedZoneID string `yaml:"hosted_zone_id" json:"hosted_zone_id"`
	// Name (YAML record) is the record's fully qualified name (db.example.internal; the
	// trailing dot is optional). Required.
	Name string `yaml:"record" json:"record"`
	// Type (YAML record_type) is A (default: the owner's IPv4 address), AAAA (its primary
	// IPv6 address) or CNAME (its EC2 DNS name).
	Type string `yaml:"record_type" json:"record_type,omitempty"`
	// TTL in seconds (default 60). Clients cache the old owner for up to
	// this long after a failover.
	TTL *int64 `yaml:"ttl" json:"ttl,omitempty"`
	// Address is private (default) or public: which of the owner's
	// addresses (A) or DNS names (CNAME) the record holds.
	Address string `yaml:"address" json:"address,omitempty"`
	// WaitTimeout bounds Start's wait for Route 53 to report the change
	// INSYNC (default 2m).
	WaitTimeout string `yaml:"wait_timeout" json:"wait_timeout,omitempty"`
	// DeleteOnStop deletes the record on Stop (only while it still names
	// this instance). Off by default: see DNSResource.Stop.
	DeleteOnStop bool `yaml:"delete_on_stop" json:"delete_on_stop,omitempty"`
	// StopTimeout bounds a delete_on_stop Stop, the deletion and the wait
	// for INSYNC (default: min(wait_timeout, the cluster's
	// fencing.stop_deadline)).
	StopTimeout string `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
}

// Validate implements resources.Validator.
func (p *DNSParams) Validate() error {
	var errs []error
	if dnsZoneID(p.HostedZoneID) == "" {
		errs = append(errs, errors.New("hosted_zone_id is required (Z...)"))
	} else if strings.ContainsAny(dnsZoneID(p.HostedZoneID), "/ ") {
		errs = append(errs, fmt.Errorf("hosted_zone_id: expected an id like Z0123456789ABC or /hostedzone/Z0123456789ABC, got %q", p.HostedZoneID))
	}
	if err := dnsCheckName(p.Name); err != nil {
		errs = append(errs, err)
	}
	switch p.recordType() {
	case r53types.RRTypeA, r53types.RRTypeCname:
	case r53types.RRTypeAaaa:
		if p.Address == "public" {
			errs = append(errs, errors.New("address: public does not apply to type AAAA (an instance's IPv6 address is its only one)"))
		}
	default:
		errs = append(errs, fmt.Errorf("record_type: expected A, AAAA or CNAME, got %q", p.Type))
	}
	if p.TTL != nil && (*p.TTL < 0 || *p.TTL > 2147483647) {
		errs = append(errs, fmt.Errorf("ttl: expected seconds between 0 and 2147483647, got %d", *p.TTL))
	}
	switch p.Address {
	case "", "private", "public":
	default:
		errs = append(errs, fmt.Errorf("address: expected private or public, got %q", p.Address))
	}
	if err := resources.CheckDuration("wait_timeout", p.WaitTimeout, "2m"); err != nil {
		errs = append(errs, err)
	}
	if err := p.checkStopTimeout(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *DNSParams) recordType() r53types.RRType {
	if p.Type == "" {
		return r53types.RRTypeA
	}
	return r53types.RRType(strings.ToUpper(p.Type))
}

func (p *DNSParams) ttl() int64 {
	if p.TTL == nil {
		return 60
	}
	return *p.TTL
}

func (p *DNSParams) public() bool { return p.Address == "public" }

func dnsCheckName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return errors.New("record is required (a fully qualified name like db.example.internal)")
	}
	if len(n) > 253 {
		return fmt.Errorf("record: %q is longer than 253 characters", name)
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return fmt.Errorf("record: expected a fully qualified name like db.example.internal, got %q", name)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.ContainsAny(l, " \t/\\") {
			return fmt.Errorf("record: %q has an empty, too long (>63) or invalid label %q", name, l)
		}
	}
	return nil
}

// dnsZoneID strips the /hostedzone/ prefix Route 53 itself returns.
func dnsZoneID(id string) string {
	return strings.TrimPrefix(strings.TrimSpace(id), "/hostedzone/")
}

// DNSType is the aws.dns resource type.
var DNSType = resources.Type{
	Name:      "aws.dns",
	NewParams: func() any { return &DNSParams{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*DNSParams)
		if !ok {
			return nil, fmt.Errorf("aws.dns: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if err := awsresCheckEnv("aws.dns", env); err != nil {
			return nil, err
		}
		waitTimeout := resources.DurationOr(p.WaitTimeout, 2*time.Minute)
		return &DNSResource{
			p:           *p,
			zone:        dnsZoneID(p.HostedZoneID),
			fqdn:        dnsCanonical(p.Name),
			rtype:       p.recordType(),
			env:         env,
			log:         awsresLogger(env),
			r53:         resourceRoute53(ConfigOf(env)),
			ec2:         resourceEC2(ConfigOf(env)),
			callTimeout: awsresCallTimeout(env),
			waitTimeout: waitTimeout,
			stopTimeout: resources.StopTimeoutOr(p.StopTimeout, waitTimeout, env.StopDeadline),
			MinDelay:    500 * time.Millisecond,
			MaxDelay:    5 * time.Second,
		}, nil
	},
}

// DNSResource is one aws.dns resource instance.
type DNSResource struct {
	p           DNSParams
	zone, fqdn  string
	rtype       r53types.RRType
	env         resources.Env
	log         hclog.Logger
	r53         *route53.Client
	ec2         *ec2.Client
	callTimeout time.Duration
	waitTimeout time.Duration
	stopTimeout time.Duration // stop_timeout, or min(wait_timeout, stop_deadline)
	// MinDelay and MaxDelay tune GetChange polling (the SDK waiter's
	// defaults are 30s/120s; a change is usually INSYNC within a minute).
	MinDelay, MaxDelay time.Duration
}

// Start implements resources.Resource: UPSERT the record to this
// instance's address, wait until Route 53 reports the change INSYNC (on
// all its authoritative servers), then read the record back.
func (r *DNSResource) Start(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	want, err := r.ownerValue(ctx)
	if err != nil {
		return err
	}
	changeID, err := r.change(ctx, tok, r53types.ChangeActionUpsert, r.recordSet(want))
	if err != nil {
		return err
	}
	if err := r.waitInSync(ctx, r.waitTimeout, changeID); err != nil {
		return err
	}
	got, err := r.read(ctx)
	if err != nil {
		return err
	}
	if !r.holds(got, want) {
		return fmt.Errorf("aws.dns: %s %s in zone %s holds %s after the UPSERT, not %s (another writer?)",
			r.fqdn, r.rtype, r.zone, dnsValues(got), want)
	}
	r.log.Info("record points at this instance", "name", r.fqdn, "type", string(r.rtype), "value", want,
		"ttl", r.p.ttl(), "change", changeID, "epoch", tok.Epoch)
	return nil
}

// Stop implements resources.Resource. By default it does nothing: the next
// owner's Start UPSERTs the record to itself, so the name keeps resolving
// (to the old owner, until then) and never answers NXDOMAIN, which
// resolvers would cache for the zone's negative TTL (SOA minimum, often
// far longer than the record's TTL) and which would outlast the failover.
// With delete_on_stop the record is deleted, but only while it still holds
// this instance's value: a record a newer owner has taken is left alone.
func (r *DNSResource) Stop(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	if !r.p.DeleteOnStop {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.stopTimeout)
	defer cancel()
	want, err := r.ownerValue(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		got, err := r.read(ctx)
		if err != nil {
			return err
		}
		if got == nil {
			return nil
		}
		if !r.holds(got, want) {
			r.log.Info("record names another owner; not deleting it", "name", r.fqdn, "value", dnsValues(got), "epoch", tok.Epoch)
			return nil
		}
		// DELETE must repeat the record exactly as it is.
		changeID, err := r.change(ctx, tok, r53types.ChangeActionDelete, got)
		if err != nil {
			if attempt < 2 && apiErrorCode(err) == codeInvalidChangeBatch {
				continue // changed between the read and the delete: look again
			}
			return err
		}
		if err := r.waitInSync(ctx, r.stopTimeout, changeID); err != nil {
			return err
		}
		r.log.Info("record deleted", "name", r.fqdn, "type", string(r.rtype), "change", changeID, "epoch", tok.Epoch)
		return nil
	}
}

// Check implements resources.Resource: the record must hold this
// instance's value. A missing or drifted record (someone edited the zone)
// is repaired with an UPSERT and read back; Check then warns and returns
// nil. It does not wait for INSYNC: the change is in the zone at once and
// propagates within about a minute, longer than a check may take.
func (r *DNSResource) Check(ctx context.Context, tok resources.Token) error {
	want, err := r.ownerValue(ctx)
	if err != nil {
		return err
	}
	got, err := r.read(ctx)
	if err != nil {
		return err
	}
	if r.holds(got, want) {
		return nil
	}
	was := dnsValues(got)
	changeID, err := r.change(ctx, tok, r53types.ChangeActionUpsert, r.recordSet(want))
	if err != nil {
		return fmt.Errorf("aws.dns: %s %s holds %s, not %s, and the repair failed: %w", r.fqdn, r.rtype, was, want, err)
	}
	if got, err = r.read(ctx); err != nil {
		return err
	}
	if !r.holds(got, want) {
		return fmt.Errorf("aws.dns: %s %s holds %s after the repair, not %s", r.fqdn, r.rtype, dnsValues(got), want)
	}
	r.log.Warn("record had drifted; repaired", "name", r.fqdn, "type", string(r.rtype), "was", was, "now", want,
		"change", changeID, "epoch", tok.Epoch)
	return nil
}

// ownerValue is what the record must hold for this instance.
func (r *DNSResource) ownerValue(ctx context.Context) (string, error) {
	id := r.env.InstanceID
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	out, err := r.ec2.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, ec2Opts(cctx))
	if err != nil {
		return "", fmt.Errorf("aws.dns: DescribeInstances %s: %s", id, describeAPIError(err))
	}
	for _, res := range out.Reservations {
		for _, in := range res.Instances {
			if aws.ToString(in.InstanceId) != id {
				continue
			}
			var v, what string
			switch {
			case r.rtype == r53types.RRTypeAaaa:
				what, v = "IPv6 address", aws.ToString(in.Ipv6Address)
				for _, ni := range in.NetworkInterfaces {
					for _, a := range ni.Ipv6Addresses {
						if v == "" {
							v = aws.ToString(a.Ipv6Address)
						}
					}
				}
			case r.rtype == r53types.RRTypeCname && r.p.public():
				what, v = "public DNS name", aws.ToString(in.PublicDnsName)
			case r.rtype == r53types.RRTypeCname:
				what, v = "private DNS name", aws.ToString(in.PrivateDnsName)
			case r.p.public():
				what, v = "public IPv4 address", aws.ToString(in.PublicIpAddress)
			default:
				what, v = "private IPv4 address", aws.ToString(in.PrivateIpAddress)
			}
			if v == "" {
				return "", fmt.Errorf("aws.dns: instance %s has no %s for %s record %s", id, what, r.rtype, r.fqdn)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("aws.dns: instance %s not found", id)
}

func (r *DNSResource) recordSet(value string) *r53types.ResourceRecordSet {
	return &r53types.ResourceRecordSet{
		Name:            aws.String(r.fqdn),
		Type:            r.rtype,
		TTL:             aws.Int64(r.p.ttl()),
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}},
	}
}

// codeInvalidChangeBatch is Route 53's error code for a change batch it
// refuses, e.g. a DELETE that no longer matches the record exactly.
const codeInvalidChangeBatch = "InvalidChangeBatch"

// change submits one change and returns its id. The comment carries the
// fencing token, so the zone's change history tells which owner wrote. Its
// error keeps the SDK's reachable (apiErrorCode).
func (r *DNSResource) change(ctx context.Context, tok resources.Token, action r53types.ChangeAction, rrs *r53types.ResourceRecordSet) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	out, err := r.r53.ChangeResourceRecordSets(cctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(r.zone),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String(fmt.Sprintf("raftha group=%s resource=%s node=%s epoch=%d instance=%s",
				tok.Group, tok.Resource, tok.Node, tok.Epoch, r.env.InstanceID)),
			Changes: []r53types.Change{{Action: action, ResourceRecordSet: rrs}},
		},
	}, r53Opts(cctx))
	if err != nil {
		return "", newCallError(err, "aws.dns: ChangeResourceRecordSets %s %s %s in hosted zone %s", action, r.fqdn, r.rtype, r.zone)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Id == nil {
		return "", fmt.Errorf("aws.dns: ChangeResourceRecordSets %s %s in hosted zone %s returned no change id", action, r.fqdn, r.zone)
	}
	return aws.ToString(out.ChangeInfo.Id), nil
}

func (r *DNSResource) waitInSync(ctx context.Context, limit time.Duration, changeID string) error {
	w := route53.NewResourceRecordSetsChangedWaiter(r.r53, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = r.MinDelay, r.MaxDelay
		o.ClientOptions = append(o.ClientOptions, r53Opts(ctx))
	})
	if err := w.Wait(ctx, &route53.GetChangeInput{Id: aws.String(changeID)}, limit); err != nil {
		return fmt.Errorf("aws.dns: change %s for %s in hosted zone %s not INSYNC within %s: %s",
			changeID, r.fqdn, r.zone, limit, describeAPIError(err))
	}
	return nil
}

// read returns the record (nil when there is none).
func (r *DNSResource) read(ctx context.Context) (*r53types.ResourceRecordSet, error) {
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	out, err := r.r53.ListResourceRecordSets(cctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(r.zone),
		StartRecordName: aws.String(r.fqdn),
		StartRecordType: r.rtype,
		MaxItems:        aws.Int32(10),
	}, r53Opts(cctx))
	if err != nil {
		return nil, fmt.Errorf("aws.dns: ListResourceRecordSets %s %s in hosted zone %s: %s", r.fqdn, r.rtype, r.zone, describeAPIError(err))
	}
	for i := range out.ResourceRecordSets {
		rrs := &out.ResourceRecordSets[i]
		if dnsCanonical(aws.ToString(rrs.Name)) == r.fqdn && rrs.Type == r.rtype && rrs.SetIdentifier == nil {
			return rrs, nil
		}
	}
	return nil, nil
}

// holds reports whether rrs is a plain record whose only value is want.
func (r *DNSResource) holds(rrs *r53types.ResourceRecordSet, want string) bool {
	if rrs == nil || rrs.AliasTarget != nil || len(rrs.ResourceRecords) != 1 {
		return false
	}
	got := aws.ToString(rrs.ResourceRecords[0].Value)
	if r.rtype == r53types.RRTypeCname {
		return dnsCanonical(got) == dnsCanonical(want)
	}
	g, w := net.ParseIP(got), net.ParseIP(want)
	return g != nil && g.Equal(w)
}

func dnsValues(rrs *r53types.ResourceRecordSet) string {
	if rrs == nil {
		return "nothing (no such record)"
	}
	if rrs.AliasTarget != nil {
		return "an alias to " + aws.ToString(rrs.AliasTarget.DNSName)
	}
	var v []string
	for _, rr := range rrs.ResourceRecords {
		v = append(v, aws.ToString(rr.Value))
	}
	return "[" + strings.Join(v, " ") + "]"
}

// dnsCanonical lowercases a name, decodes Route 53's \ooo octal escapes
// (it returns * as \052) and adds the trailing dot.
func dnsCanonical(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+4 <= len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	s := strings.ToLower(b.String())
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
