package aws

import "github.com/raftha/raftha/resources"

// The IAM statements of the AWS resource types and of the EC2 fencer
// (resources.IAMDeclarer): what `raftha iam-policy` grants a node.

// Sids of the statements the AWS types and the fencer declare.
const (
	sidFence          = "RafthaFenceLostOwner"
	sidRouteTable     = "RafthaRouteTableVirtualIP"
	sidSourceDest     = "RafthaSourceDestCheck"
	sidEIP            = "RafthaElasticIP"
	sidEIPInstance    = "RafthaElasticIPInstance"
	sidRoute53Record  = "RafthaRoute53Record"
	sidRoute53Change  = "RafthaRoute53Change"
	sidEBSAttach      = "RafthaEBSAttach"
	sidEBSAttachInst  = "RafthaEBSAttachInstance"
	sidDescribe       = "RafthaDescribe"
	actDescribeInsts  = "ec2:DescribeInstances"
	actAssociateAddr  = "ec2:AssociateAddress"
	actAttachVolume   = "ec2:AttachVolume"
	actDetachVolume   = "ec2:DetachVolume"
	serviceEC2        = "ec2"
	serviceRoute53    = "route53"
	anyNetworkIfaceID = "network-interface/*"
)

// describe is the statement of the Describe* calls, which IAM cannot
// scope. Every AWS type reads the owner's instance (its ENI, VPC and
// addresses), so each declares DescribeInstances.
func describe(actions ...string) resources.IAMStatement {
	return resources.IAMStatement{Sid: sidDescribe, Actions: append([]string{actDescribeInsts}, actions...), Resources: []resources.IAMResource{resources.IAMAny()}}
}

func ec2Resource(resource string) resources.IAMResource {
	return resources.IAMResource{Service: serviceEC2, Resource: resource}
}

// FenceIAMStatements are the grants of aws-stop fencing (the EC2 fencer):
// StopInstances on the nodes' instances, and DescribeInstances for the
// instance check and the stopped-waiter.
func FenceIAMStatements() []resources.IAMStatement {
	return []resources.IAMStatement{
		{Sid: sidFence, Actions: []string{"ec2:StopInstances"}, NodeInstances: true},
		describe(),
	}
}

// IAMStatements implements resources.IAMDeclarer: Create/ReplaceRoute on
// the listed route tables (every route table of the account when none is
// listed: they are found at run time), ModifyNetworkInterfaceAttribute
// (source/destination check) on the owner's primary ENI, found at run time
// (see docs/deploying.md, IAM policy).
func (p *RouteParams) IAMStatements() []resources.IAMStatement {
	var tables []resources.IAMResource
	for _, t := range p.RouteTables {
		tables = append(tables, ec2Resource("route-table/"+t))
	}
	if len(tables) == 0 {
		tables = []resources.IAMResource{ec2Resource("route-table/*")}
	}
	return []resources.IAMStatement{
		{Sid: sidRouteTable, Actions: []string{"ec2:CreateRoute", "ec2:ReplaceRoute"}, Resources: tables},
		{Sid: sidSourceDest, Actions: []string{"ec2:ModifyNetworkInterfaceAttribute"}, Resources: []resources.IAMResource{ec2Resource(anyNetworkIfaceID)}},
		describe("ec2:DescribeRouteTables", "ec2:DescribeNetworkInterfaces"),
	}
}

// IAMStatements implements resources.IAMDeclarer: AssociateAddress (and
// DisassociateAddress with disassociate_on_stop) on the allocation and the
// owner's ENI, and AssociateAddress on the nodes' instances.
func (p *EIPParams) IAMStatements() []resources.IAMStatement {
	actions := []string{actAssociateAddr}
	if p.DisassociateOnStop {
		actions = append(actions, "ec2:DisassociateAddress")
	}
	return []resources.IAMStatement{
		{Sid: sidEIP, Actions: actions, Resources: []resources.IAMResource{ec2Resource("elastic-ip/" + p.AllocationID), ec2Resource(anyNetworkIfaceID)}},
		{Sid: sidEIPInstance, Actions: []string{actAssociateAddr}, NodeInstances: true},
		describe("ec2:DescribeAddresses"),
	}
}

// IAMStatements implements resources.IAMDeclarer: the record calls on the
// hosted zone (delete_on_stop deletes with ChangeResourceRecordSets too)
// and GetChange, which IAM scopes to change/* only.
func (p *DNSParams) IAMStatements() []resources.IAMStatement {
	return []resources.IAMStatement{
		{Sid: sidRoute53Record, Actions: []string{"route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"},
			Resources: []resources.IAMResource{{Service: serviceRoute53, Resource: "hostedzone/" + dnsZoneID(p.HostedZoneID)}}},
		{Sid: sidRoute53Change, Actions: []string{"route53:GetChange"}, Resources: []resources.IAMResource{{Service: serviceRoute53, Resource: "change/*"}}},
		describe(),
	}
}

// IAMStatements implements resources.IAMDeclarer: Attach/DetachVolume on
// the volume and the nodes' instances; a Multi-Attach volume is only
// verified (DescribeVolumes).
func (p *EBSParams) IAMStatements() []resources.IAMStatement {
	d := describe("ec2:DescribeVolumes")
	if p.MultiAttach {
		return []resources.IAMStatement{d}
	}
	return []resources.IAMStatement{
		{Sid: sidEBSAttach, Actions: []string{actAttachVolume, actDetachVolume}, Resources: []resources.IAMResource{ec2Resource("volume/" + p.VolumeID)}},
		{Sid: sidEBSAttachInst, Actions: []string{actAttachVolume, actDetachVolume}, NodeInstances: true},
		d,
	}
}
