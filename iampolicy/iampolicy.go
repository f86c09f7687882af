// Package iampolicy owns the least-privilege IAM policy a node needs for a group file (`raftha iam-policy`).
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// ClusterTagKey is the tag the operator puts on every node's instance
// (value: the cluster name) when the policy scopes instance actions by tag
// rather than by instance ARN: aws:ResourceTag/raftha-cluster.
const ClusterTagKey = "raftha-cluster"

// Sentinel errors of ForNode.
var (
	// ErrNoStatement means the groups and fencing mode need no AWS
	// permission at all: there is no policy to print.
	ErrNoStatement = errors.New("no AWS permission needed")
	// ErrUnscoped means an instance action cannot be scoped: the instance
	// ids of some nodes are unknown and no cluster name was given for the
	// tag condition.
	ErrUnscoped = errors.New("cannot scope the instance actions")
)

// Statement is one statement of an IAM policy document.
type Statement struct {
	// Sid names the statement (e.g. "RafthaFenceLostOwner").
	Sid string `json:"Sid"`
	// Effect is always "Allow".
	Effect string `json:"Effect"`
	// Action lists the allowed API actions, e.g. "ec2:StopInstances".
	Action []string `json:"Action"`
	// Resource lists the ARNs the actions are allowed on, sorted; "*" for
	// actions IAM cannot scope.
	Resource []string `json:"Resource"`
	// Condition, when set, restricts the statement further, e.g.
	// {"StringEquals": {"aws:ResourceTag/raftha-cluster": "prod"}}.
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Policy is an IAM policy document.
type Policy struct {
	// Version is the policy language version, "2012-10-17".
	Version string `json:"Version"`
	// Statement lists the policy's statements; never empty (ForNode
	// returns ErrNoStatement instead).
	Statement []Statement `json:"Statement"`
}

// Scope fills the ARNs; "*" when unknown.
type Scope struct {
	// Region is the AWS region put in EC2 ARNs; "" gives "*". It also
	// picks the ARN partition (see Partition).
	Region string
	// Account is the AWS account id put in EC2 ARNs; "" gives "*".
	Account string
	// Instances maps node ids to their EC2 instance ids. When every node
	// the groups name has one, instance actions are granted on exactly
	// those instance ARNs.
	Instances map[string]string
	// Cluster is the cluster name: when some node's instance id is
	// unknown, instance actions are granted on instances tagged
	// raftha-cluster=Cluster (ClusterTagKey) only.
	Cluster string
}

// Partition returns the ARN partition of region: aws-cn for the China
// regions (cn-*), aws-us-gov for GovCloud (us-gov-*), aws-iso and
// aws-iso-b for the isolated regions, aws otherwise (and for "").
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	}
	return "aws"
}

func (p Scope) arn(service, resource string) string {
	region, account := p.Region, p.Account
	if region == "" {
		region = "*"
	}
	if account == "" {
		account = "*"
	}
	if service == "route53" {
		return "arn:" + Partition(p.Region) + ":route53:::" + resource
	}
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", Partition(p.Region), service, region, account, resource)
}

// instanceScope is how instance actions are scoped: exact ARNs, or
// instance/* with the cluster tag condition.
type instanceScope struct {
	resources []string
	condition map[string]map[string]string
}

// instances returns the instance scope for the nodes named in groups.
func (p Scope) instances(nodes []string) (instanceScope, error) {
	var arns, missing []string
	for _, n := range nodes {
		id := p.Instances[n]
		if id == "" || id == "auto" {
			missing = append(missing, n)
			continue
		}
		arns = append(arns, p.arn("ec2", "instance/"+id))
	}
	if len(nodes) > 0 && len(missing) == 0 {
		sort.Strings(arns)
		return instanceScope{resources: arns}, nil
	}
	if p.Cluster != "" {
		return instanceScope{
			resources: []string{p.arn("ec2", "instance/*")},
			condition: map[string]map[string]string{"StringEquals": {"aws:ResourceTag/" + ClusterTagKey: p.Cluster}},
		}, nil
	}
	if len(nodes) == 0 {
		return instanceScope{}, fmt.Errorf("%w: the groups name no node; give the cluster name for the %s tag condition", ErrUnscoped, ClusterTagKey)
	}
	return instanceScope{}, fmt.Errorf("%w: the instance ids of %s are unknown; give every node's instance id, or the cluster name for the %s tag condition", ErrUnscoped, strings.Join(missing, ", "), ClusterTagKey)
}

// ForNode returns the least-privilege policy a node needs for the
// given groups and fencing mode. Witnesses need no AWS permission at all.
// Describe* calls cannot be scoped to resources in IAM, so they use "*".
// Instance actions (StopInstances, and the instance side of
// AssociateAddress and Attach/DetachVolume) are scoped to the nodes'
// instance ARNs when scope knows every node's instance id, else to
// instances tagged raftha-cluster=scope.Cluster; with neither it returns
// an error wrapping ErrUnscoped. When nothing needs a permission it
// returns an error wrapping ErrNoStatement.
func ForNode(groups []fsm.GroupSpec, fencingMode config.FencingMode, scope Scope) (Policy, error) {
	pol := Policy{Version: "2012-10-17"}
	describe := map[string]bool{}
	add := func(sid string, actions []string, resources ...string) {
		sort.Strings(resources)
		pol.Statement = append(pol.Statement, Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources})
	}
	nodeSet := map[string]bool{}
	for _, g := range groups {
		for _, n := range g.Nodes {
			nodeSet[n] = true
		}
	}
	var nodes []string
	for n := range nodeSet {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var inst *instanceScope
	var instErr error
	addInstances := func(sid string, actions []string) {
		if inst == nil && instErr == nil {
			var s instanceScope
			s, instErr = scope.instances(nodes)
			inst = &s
		}
		if instErr != nil {
			return
		}
		add(sid, actions, inst.resources...)
		pol.Statement[len(pol.Statement)-1].Condition = inst.condition
	}
	if fencingMode == config.FencingAWSStop {
		addInstances("RafthaFenceLostOwner", []string{"ec2:StopInstances"})
		describe["ec2:DescribeInstances"] = true // the stopped-waiter
	}
	routeTables, eips, zones, volumes := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var anyRoute, disassociate, deleteRecords bool
	for _, g := range groups {
		for _, r := range g.Resources {
			var p map[string]any
			_ = json.Unmarshal(r.Params, &p)
			str := func(k string) string { s, _ := p[k].(string); return s }
			switch r.Type {
			case "aws.route":
				anyRoute = true
				if list, ok := p["route_tables"].([]any); ok && len(list) > 0 {
					for _, t := range list {
						if s, ok := t.(string); ok {
							routeTables[s] = true
						}
					}
				} else {
					routeTables["*"] = true
				}
			case "aws.eip":
				eips[str("allocation_id")] = true
				if b, _ := p["disassociate_on_stop"].(bool); b {
					disassociate = true
				}
			case "aws.dns":
				zones[trimZone(str("hosted_zone_id"))] = true
				if b, _ := p["delete_on_stop"].(bool); b {
					deleteRecords = true
				}
			case "aws.ebs":
				describe["ec2:DescribeVolumes"] = true
				if b, _ := p["multi_attach"].(bool); !b { // multi_attach only verifies
					volumes[str("volume_id")] = true
				}
			}
			if strings.HasPrefix(r.Type, "aws.") {
				describe["ec2:DescribeInstances"] = true // the owner's ENI, VPC and addresses
			}
		}
	}
	if anyRoute {
		var res []string
		for t := range routeTables {
			res = append(res, scope.arn("ec2", "route-table/"+t))
		}
		add("RafthaRouteTableVirtualIP", []string{"ec2:CreateRoute", "ec2:ReplaceRoute"}, res...)
		// The owner's primary ENI is found at run time: the group file
		// names no ENI, so this stays network-interface/* (see docs/deploying.md, IAM policy).
		add("RafthaSourceDestCheck", []string{"ec2:ModifyNetworkInterfaceAttribute"}, scope.arn("ec2", "network-interface/*"))
		describe["ec2:DescribeRouteTables"] = true
		describe["ec2:DescribeNetworkInterfaces"] = true
	}
	if len(eips) > 0 {
		var res []string
		for a := range eips {
			res = append(res, scope.arn("ec2", "elastic-ip/"+a))
		}
		actions := []string{"ec2:AssociateAddress"}
		if disassociate {
			actions = append(actions, "ec2:DisassociateAddress")
		}
		add("RafthaElasticIP", actions, append(res, scope.arn("ec2", "network-interface/*"))...)
		addInstances("RafthaElasticIPInstance", []string{"ec2:AssociateAddress"})
		describe["ec2:DescribeAddresses"] = true
	}
	if len(zones) > 0 {
		var res []string
		for z := range zones {
			res = append(res, scope.arn("route53", "hostedzone/"+z))
		}
		add("RafthaRoute53Record", []string{"route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"}, res...)
		add("RafthaRoute53Change", []string{"route53:GetChange"}, scope.arn("route53", "change/*"))
		_ = deleteRecords // deleting uses ChangeResourceRecordSets too
	}
	if len(volumes) > 0 {
		var res []string
		for v := range volumes {
			res = append(res, scope.arn("ec2", "volume/"+v))
		}
		add("RafthaEBSAttach", []string{"ec2:AttachVolume", "ec2:DetachVolume"}, res...)
		addInstances("RafthaEBSAttachInstance", []string{"ec2:AttachVolume", "ec2:DetachVolume"})
	}
	if instErr != nil {
		return Policy{}, instErr
	}
	var d []string
	for a := range describe {
		d = append(d, a)
	}
	if len(d) > 0 {
		sort.Strings(d)
		add("RafthaDescribe", d, "*")
	}
	if len(pol.Statement) == 0 {
		return Policy{}, fmt.Errorf("%w: fencing mode %s and no aws.* resource in the groups; attach no policy", ErrNoStatement, fencingMode)
	}
	return pol, nil
}

func trimZone(z string) string {
	const p = "/hostedzone/"
	if len(z) > len(p) && z[:len(p)] == p {
		return z[len(p):]
	}
	return z
}
