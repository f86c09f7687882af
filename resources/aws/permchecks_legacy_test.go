package aws

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// legacyCheck is PermissionCheck as it was before the types declared
// their checks (resources.PermissionDeclarer).
type legacyCheck struct {
	Action, Target, Key string
	call                func(ctx context.Context, api DryRunAPI) error
}

// legacyResourceChecks is the type switch the AWS provider used before
// the types declared their checks, kept verbatim (53776d2,
// resources/aws/preflight.go ResourceChecks) so that
// TestDeclaredChecksMatchTypeSwitch proves the declarations identical.
func legacyResourceChecks(typ string, params json.RawMessage, self string) []legacyCheck {
	if self == "" {
		return nil
	}
	var out []legacyCheck
	switch typ {
	case "aws.route":
		var p RouteParams
		if json.Unmarshal(params, &p) != nil {
			return nil
		}
		in := routeDestination(p.Destination)
		if in == nil {
			return nil
		}
		for _, t := range p.RouteTables {
			t := t
			out = append(out, legacyCheck{Action: "ec2:ReplaceRoute", Target: t + " " + p.Destination + " -> " + self, Key: "ec2:ReplaceRoute " + t,
				call: func(ctx context.Context, api DryRunAPI) error {
					r := *in
					r.RouteTableId, r.InstanceId, r.DryRun = aws.String(t), aws.String(self), aws.Bool(true)
					_, err := api.ReplaceRoute(ctx, &r)
					return err
				}})
		}
	case "aws.eip":
		var p EIPParams
		if json.Unmarshal(params, &p) != nil || p.AllocationID == "" {
			return nil
		}
		out = append(out, legacyCheck{Action: "ec2:AssociateAddress", Target: p.AllocationID + " -> " + self, Key: "ec2:AssociateAddress " + p.AllocationID,
			call: func(ctx context.Context, api DryRunAPI) error {
				_, err := api.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(p.AllocationID), InstanceId: aws.String(self), AllowReassociation: aws.Bool(true), DryRun: aws.Bool(true)})
				return err
			}})
	case "aws.ebs":
		var p EBSParams
		if json.Unmarshal(params, &p) != nil || p.VolumeID == "" || p.MultiAttach {
			return nil
		}
		out = append(out, legacyCheck{Action: "ec2:AttachVolume", Target: p.VolumeID + " -> " + self + " " + p.Device, Key: "ec2:AttachVolume " + p.VolumeID,
			call: func(ctx context.Context, api DryRunAPI) error {
				_, err := api.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(p.VolumeID), InstanceId: aws.String(self), Device: aws.String(p.Device), DryRun: aws.Bool(true)})
				return err
			}}, legacyCheck{Action: "ec2:DetachVolume", Target: p.VolumeID, Key: "ec2:DetachVolume " + p.VolumeID,
			call: func(ctx context.Context, api DryRunAPI) error {
				_, err := api.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(p.VolumeID), DryRun: aws.Bool(true)})
				return err
			}})
	}
	return out
}
