package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/raftha/raftha/resources"
)

// RouteParams are the aws.route resource's settings: the route-table
// "virtual IP" (LifeKeeper's route table scenario). Clients in any subnet
// of the VPC reach an address outside the VPC's CIDR (e.g. 10.1.0.10/32)
// through their subnet's route table, whose route for it targets the
// owner's primary network interface; a failover rewrites that target.
type RouteParams struct {
	// Destination is the virtual IP's CIDR, e.g. 10.1.0.10/32 (IPv4;
	// it should lie outside the VPC's CIDR blocks).
	Destination string `yaml:"destination" json:"destination"`
	// RouteTables lists the rtb- ids to steer. When empty, every route
	// table of the VPC that already holds a route for Destination is
	// steered (add the route, with any target, to the tables of the
	// subnets whose clients use the virtual IP).
	RouteTables []string `yaml:"route_tables" json:"route_tables,omitempty"`
	// VPCID is the VPC whose route tables are searched when RouteTables
	// is empty (default: the owner instance's VPC).
	VPCID string `yaml:"vpc_id" json:"vpc_id,omitempty"`
}

// Validate implements resources.Validator.
func (p *RouteParams) Validate() error {
	var errs []error
	if p.Destination == "" {
		errs = append(errs, errors.New("destination: required (the virtual IP's CIDR, e.g. 10.1.0.10/32)"))
	} else if pfx, err := netip.ParsePrefix(p.Destination); err != nil {
		errs = append(errs, fmt.Errorf("destination: expected a CIDR like 10.1.0.10/32, got %q", p.Destination))
	} else if !pfx.Addr().Is4() {
		errs = append(errs, fmt.Errorf("destination: only IPv4 CIDRs are supported, got %q", p.Destination))
	} else if pfx.Masked() != pfx {
		errs = append(errs, fmt.Errorf("destination: %q has host bits set (did you mean %s, or %s/32?)", p.Destination, pfx.Masked(), pfx.Addr()))
	}
	seen := map[string]bool{}
	for i, id := range p.RouteTables {
		switch {
		case !routeTableIDRE.MatchString(id):
			errs = append(errs, fmt.Errorf("route_tables[%d]: expected a route table id like rtb-0123456789abcdef0, got %q", i, id))
		case seen[id]:
			errs = append(errs, fmt.Errorf("route_tables[%d]: %s is listed twice", i, id))
		}
		seen[id] = true
	}
	if p.VPCID != "" && !vpcIDRE.MatchString(p.VPCID) {
		errs = append(errs, fmt.Errorf("vpc_id: expected a VPC id like vpc-0123456789abcdef0, got %q", p.VPCID))
	}
	if p.VPCID != "" && len(p.RouteTables) > 0 {
		errs = append(errs, errors.New("vpc_id: only used to find route tables when route_tables is empty; set one or the other"))
	}
	return errors.Join(errs...)
}

// RouteType is the aws.route resource type for a resources.Registry.
var RouteType = resources.Type{
	Name:      "aws.route",
	NewParams: func() any { return &RouteParams{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*RouteParams)
		if !ok {
			return nil, fmt.Errorf("aws.route: params of type %T", params)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		b, err := newEC2Base("aws.route", env)
		if err != nil {
			return nil, err
		}
		pfx := netip.MustParsePrefix(p.Destination)
		return &Route{ec2Base: b, p: *p, dest: pfx.String(), known: map[string]bool{}}, nil
	},
}

// Route is one aws.route resource.
//
// Start points the destination's route in every table at the owner's
// primary ENI (ReplaceRoute, or CreateRoute when the table lacks the
// route) after turning the ENI's source/destination check off (an
// instance drops packets addressed to someone else otherwise), and reads
// the tables back. Check reads them back and repairs drift. Stop does not
// touch the routes, see Stop.
type Route struct {
	*ec2Base
	p    RouteParams
	dest string // canonical destination

	// known are the tables discovered so far (route_tables empty): a
	// table whose route was deleted behind raftha's back is no longer
	// found by its route, but is still repaired.
	known map[string]bool
}

// Start implements resources.Resource.
func (r *Route) Start(ctx context.Context, tok resources.Token) error {
	ctx = actionCalls(ctx) // a takeover waits on it: prompt retries (resourceclient.go)
	o, err := r.ownerOf(ctx, false)
	if err != nil {
		return err
	}
	if err := r.sourceDestCheckOff(ctx, tok, o, false); err != nil {
		return err
	}
	tables, err := r.tables(ctx, o, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tables {
		rt, found := routeFor(t, r.dest)
		// Always write, even when the table already points at us: the
		// read may be stale (Describe calls are eventually consistent).
		if err := r.point(ctx, deref(t.RouteTableId), found, o.ENI); err != nil {
			errs = append(errs, err)
			continue
		}
		r.log.Info("route points at this node", tokenFields(tok, "route_table", deref(t.RouteTableId),
			"destination", r.dest, "eni", o.ENI, "was", targetOf(rt, found))...)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.verify(ctx, tables, o)
}

// Stop implements resources.Resource. It leaves the routes alone: the
// next owner's Start replaces them. Deleting the route would blackhole
// the virtual IP until the next owner starts (and, in the discovery mode,
// make the tables undiscoverable), while a route left pointing at a
// stopped or fenced instance is harmless: packets to it are dropped, as
// they would be with no route, until the next owner takes it over.
// Stop is therefore a no-op, and idempotent.
func (r *Route) Stop(ctx context.Context, tok resources.Token) error {
	r.log.Debug("stop: route left in place for the next owner", tokenFields(tok, "destination", r.dest)...)
	return nil
}

// Check implements resources.Resource: every table's route for the
// destination must target the owner's ENI and the ENI's source/dest
// check must be off. Drift is repaired (and logged as a warning); Check
// fails only when the repair fails.
//
// Its reads are the member's shared ones (sharedreads.go): one
// DescribeInstances and one DescribeRouteTables per VPC for the checks of
// every route resource within SharedReadTTL.
func (r *Route) Check(ctx context.Context, tok resources.Token) error {
	o, err := r.ownerShared(ctx)
	if err != nil {
		return err
	}
	if err := r.sourceDestCheckOff(ctx, tok, o, true); err != nil {
		return err
	}
	tables, err := r.tables(ctx, o, true)
	if err != nil {
		return err
	}
	var errs []error
	repaired := false
	for _, t := range tables {
		rt, found := routeFor(t, r.dest)
		if found && deref(rt.NetworkInterfaceId) == o.ENI {
			continue
		}
		id := deref(t.RouteTableId)
		r.log.Warn("route drifted away from this node: repairing", tokenFields(tok, "route_table", id,
			"destination", r.dest, "eni", o.ENI, "was", targetOf(rt, found))...)
		if err := r.point(ctx, id, found, o.ENI); err != nil {
			errs = append(errs, err)
			continue
		}
		repaired = true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if repaired {
		return r.verify(ctx, tables, o)
	}
	return nil
}

// sourceDestCheckOff turns the ENI's source/destination check off: with
// it on, EC2 drops packets whose destination (the virtual IP) is not one
// of the ENI's own addresses. In Check (drift) it is logged as a warning.
func (r *Route) sourceDestCheckOff(ctx context.Context, tok resources.Token, o ownerInfo, drift bool) error {
	if o.SourceDestCheck != nil && !*o.SourceDestCheck {
		return nil
	}
	cctx, cancel := r.call(ctx)
	_, err := r.client.ModifyNetworkInterfaceAttribute(cctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(o.ENI),
		SourceDestCheck:    &types.AttributeBooleanValue{Value: aws.Bool(false)},
	}, ec2Opts(cctx))
	cancel()
	r.reads.forget(instanceKey(o.Instance)) // the shared read may be stale now
	if err != nil {
		return r.apiError("ModifyNetworkInterfaceAttribute", o.ENI+" (source/dest check off)", err)
	}
	if drift {
		r.log.Warn("source/dest check was on again: turned it off", tokenFields(tok, "eni", o.ENI)...)
	} else {
		r.log.Info("source/dest check turned off", tokenFields(tok, "eni", o.ENI)...)
	}
	return nil
}

// tables returns the route tables to steer: the listed ones, or those of
// the VPC that hold a route for the destination (plus those found before).
// With shared (Check), they come from the member's shared read of the
// VPC's tables when it holds them all.
func (r *Route) tables(ctx context.Context, o ownerInfo, shared bool) ([]types.RouteTable, error) {
	in := &ec2.DescribeRouteTablesInput{}
	what := strings.Join(r.p.RouteTables, ",")
	vpc := r.p.VPCID
	if len(r.p.RouteTables) > 0 {
		in.RouteTableIds = r.p.RouteTables
	} else {
		if vpc == "" {
			vpc = o.VPC
		}
		if vpc == "" {
			return nil, fmt.Errorf("%s: instance %s reports no VPC: set vpc_id or route_tables", r.kind, o.Instance)
		}
		in.Filters = []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}
		what = "in " + vpc
	}
	var all []types.RouteTable
	if shared {
		var err error
		if all, err = r.sharedTables(ctx, vpc, o.VPC); err != nil {
			return nil, err
		}
	}
	pg := ec2.NewDescribeRouteTablesPaginator(r.client, in)
	for all == nil && pg.HasMorePages() {
		cctx, cancel := r.call(ctx)
		out, err := pg.NextPage(cctx, ec2Opts(cctx))
		cancel()
		if err != nil {
			return nil, r.apiError("DescribeRouteTables", what, err)
		}
		all = append(all, out.RouteTables...)
	}
	if len(r.p.RouteTables) > 0 {
		for _, id := range r.p.RouteTables {
			if !slices.ContainsFunc(all, func(t types.RouteTable) bool { return deref(t.RouteTableId) == id }) {
				return nil, fmt.Errorf("%s: DescribeRouteTables: route table %s not found", r.kind, id)
			}
		}
		return all, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var sel []types.RouteTable
	for _, t := range all {
		id := deref(t.RouteTableId)
		if _, found := routeFor(t, r.dest); found || r.known[id] {
			sel = append(sel, t)
			r.known[id] = true
		}
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("%s: no route table in %s has a route for %s: add one (any target; raftha replaces it) to the route table of each subnet whose clients use the virtual IP, or list the tables in route_tables", r.kind, vpc, r.dest)
	}
	return sel, nil
}

// sharedTables returns the tables tables() reads, from the member's
// shared read of the VPC's tables: those of vpc (no route_tables) or the
// listed ones, looked up in ownerVPC. It returns nil (read them directly)
// when that read cannot hold them: a listed table not in ownerVPC.
func (r *Route) sharedTables(ctx context.Context, vpc, ownerVPC string) ([]types.RouteTable, error) {
	if len(r.p.RouteTables) == 0 {
		return r.reads.vpcTables(ctx, vpc, r.timeout, r.apiError)
	}
	if ownerVPC == "" {
		return nil, nil
	}
	all, err := r.reads.vpcTables(ctx, ownerVPC, r.timeout, r.apiError)
	if err != nil {
		return nil, err
	}
	var sel []types.RouteTable
	for _, id := range r.p.RouteTables {
		i := slices.IndexFunc(all, func(t types.RouteTable) bool { return deref(t.RouteTableId) == id })
		if i < 0 {
			return nil, nil
		}
		sel = append(sel, all[i])
	}
	return sel, nil
}

// point makes table's route for the destination target eni: ReplaceRoute
// when the route exists, CreateRoute when not (each falls back on the
// other if the route appeared or vanished in between).
func (r *Route) point(ctx context.Context, table string, exists bool, eni string) error {
	// Whatever the outcome, the shared reads of route tables may be stale.
	defer r.reads.forgetPrefix(vpcTablesKey(""))
	replace := func() error {
		cctx, cancel := r.call(ctx)
		defer cancel()
		_, err := r.client.ReplaceRoute(cctx, &ec2.ReplaceRouteInput{
			RouteTableId: aws.String(table), DestinationCidrBlock: aws.String(r.dest), NetworkInterfaceId: aws.String(eni),
		}, ec2Opts(cctx))
		if err != nil {
			return r.apiError("ReplaceRoute", fmt.Sprintf("%s %s -> %s", table, r.dest, eni), err)
		}
		return nil
	}
	create := func() error {
		cctx, cancel := r.call(ctx)
		defer cancel()
		_, err := r.client.CreateRoute(cctx, &ec2.CreateRouteInput{
			RouteTableId: aws.String(table), DestinationCidrBlock: aws.String(r.dest), NetworkInterfaceId: aws.String(eni),
		}, ec2Opts(cctx))
		if err != nil {
			return r.apiError("CreateRoute", fmt.Sprintf("%s %s -> %s", table, r.dest, eni), err)
		}
		return nil
	}
	if exists {
		err := replace()
		// AWS answers InvalidParameterValue when there is no route to replace.
		if err != nil && apiErrorCode(err) == "InvalidParameterValue" {
			if cerr := create(); cerr == nil {
				return nil
			}
		}
		return err
	}
	err := create()
	if err != nil && apiErrorCode(err) == "RouteAlreadyExists" {
		return replace()
	}
	return err
}

// verify reads the tables back until each route for the destination
// targets eni.
func (r *Route) verify(ctx context.Context, tables []types.RouteTable, o ownerInfo) error {
	ids := make([]string, 0, len(tables))
	for _, t := range tables {
		ids = append(ids, deref(t.RouteTableId))
	}
	complaint, err := readBack(ctx, func(ctx context.Context) (string, error) {
		cctx, cancel := r.call(ctx)
		out, err := r.client.DescribeRouteTables(cctx, &ec2.DescribeRouteTablesInput{RouteTableIds: ids}, ec2Opts(cctx))
		cancel()
		if err != nil {
			return "", r.apiError("DescribeRouteTables", strings.Join(ids, ","), err)
		}
		var bad []string
		for _, id := range ids {
			i := slices.IndexFunc(out.RouteTables, func(t types.RouteTable) bool { return deref(t.RouteTableId) == id })
			if i < 0 {
				bad = append(bad, id+": table not found")
				continue
			}
			rt, found := routeFor(out.RouteTables[i], r.dest)
			if !found || deref(rt.NetworkInterfaceId) != o.ENI {
				bad = append(bad, id+": "+targetOf(rt, found))
			}
		}
		return strings.Join(bad, "; "), nil
	})
	if err != nil {
		return err
	}
	if complaint != "" {
		return fmt.Errorf("%s: read-back: the route for %s does not target %s (%s) in %s", r.kind, r.dest, o.ENI, o.Instance, complaint)
	}
	return nil
}

// routeFor returns t's route for dest.
func routeFor(t types.RouteTable, dest string) (types.Route, bool) {
	for _, rt := range t.Routes {
		if deref(rt.DestinationCidrBlock) == dest {
			return rt, true
		}
	}
	return types.Route{}, false
}

// targetOf describes where a route points, for logs and errors.
func targetOf(rt types.Route, found bool) string {
	if !found {
		return "no route"
	}
	var s string
	switch {
	case rt.NetworkInterfaceId != nil:
		s = *rt.NetworkInterfaceId
		if rt.InstanceId != nil {
			s += " (" + *rt.InstanceId + ")"
		}
	case rt.InstanceId != nil:
		s = *rt.InstanceId
	case rt.GatewayId != nil:
		s = *rt.GatewayId
	case rt.NatGatewayId != nil:
		s = *rt.NatGatewayId
	case rt.TransitGatewayId != nil:
		s = *rt.TransitGatewayId
	case rt.VpcPeeringConnectionId != nil:
		s = *rt.VpcPeeringConnectionId
	case rt.EgressOnlyInternetGatewayId != nil:
		s = *rt.EgressOnlyInternetGatewayId
	case rt.CarrierGatewayId != nil:
		s = *rt.CarrierGatewayId
	case rt.LocalGatewayId != nil:
		s = *rt.LocalGatewayId
	case rt.CoreNetworkArn != nil:
		s = *rt.CoreNetworkArn
	default:
		s = "no target"
	}
	if rt.State == types.RouteStateBlackhole {
		s += " [blackhole]"
	}
	return s
}
