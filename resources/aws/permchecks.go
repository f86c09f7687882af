package aws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/resources"
)

// The start-up permission checks of the AWS resource types
// (resources.PermissionDeclarer): the DryRun calls of what each type does
// when it starts or stops on this node's instance. Real EC2 honours DryRun
// for all of them; moto_server does not for ReplaceRoute (it replaces the
// route), so tests against moto check StopInstances (and the volume calls)
// only, and the integration fronts answer DryRun calls themselves.

// PermissionChecks implements resources.PermissionDeclarer: ReplaceRoute
// on each listed route table. Tables found by VPC at run time are not
// checked, nor is a destination that does not parse.
func (p *RouteParams) PermissionChecks(self string) []resources.PermissionCheck {
	in := routeDestination(p.Destination)
	if in == nil {
		return nil
	}
	var out []resources.PermissionCheck
	for _, t := range p.RouteTables {
		out = append(out, PermissionCheck{Action: "ec2:ReplaceRoute", Target: t + " " + p.Destination + " -> " + self, Key: "ec2:ReplaceRoute " + t,
			Call: dryRunCall(func(ctx context.Context, api DryRunAPI) error {
				r := *in
				r.RouteTableId, r.InstanceId, r.DryRun = aws.String(t), aws.String(self), aws.Bool(true)
				_, err := api.ReplaceRoute(ctx, &r)
				return err
			})})
	}
	return out
}

// PermissionChecks implements resources.PermissionDeclarer:
// AssociateAddress of the allocation to this node's instance.
func (p *EIPParams) PermissionChecks(self string) []resources.PermissionCheck {
	if p.AllocationID == "" {
		return nil
	}
	alloc := p.AllocationID
	return []resources.PermissionCheck{{Action: actAssociateAddr, Target: alloc + " -> " + self, Key: actAssociateAddr + " " + alloc,
		Call: dryRunCall(func(ctx context.Context, api DryRunAPI) error {
			_, err := api.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(alloc), InstanceId: aws.String(self), AllowReassociation: aws.Bool(true), DryRun: aws.Bool(true)})
			return err
		})}}
}

// PermissionChecks implements resources.PermissionDeclarer: AttachVolume
// of the volume to this node's instance and DetachVolume of it; none for
// a Multi-Attach volume, which is only verified.
func (p *EBSParams) PermissionChecks(self string) []resources.PermissionCheck {
	if p.VolumeID == "" || p.MultiAttach {
		return nil
	}
	vol, dev := p.VolumeID, p.Device
	return []resources.PermissionCheck{
		{Action: actAttachVolume, Target: vol + " -> " + self + " " + dev, Key: actAttachVolume + " " + vol,
			Call: dryRunCall(func(ctx context.Context, api DryRunAPI) error {
				_, err := api.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(self), Device: aws.String(dev), DryRun: aws.Bool(true)})
				return err
			})},
		{Action: actDetachVolume, Target: vol, Key: actDetachVolume + " " + vol,
			Call: dryRunCall(func(ctx context.Context, api DryRunAPI) error {
				_, err := api.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol), DryRun: aws.Bool(true)})
				return err
			})},
	}
}
