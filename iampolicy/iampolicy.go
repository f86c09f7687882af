// Package iampolicy owns the least-privilege IAM policy a node needs for a group file (`raftha iam-policy`).
package iampolicy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
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
}

// Policy is an IAM policy document.
type Policy struct {
	// Version is the policy language version, "2012-10-17".
	Version string `json:"Version"`
	// Statement lists the policy's statements.
	Statement []Statement `json:"Statement"`
}

// Scope fills the ARNs; "*" when unknown.
type Scope struct {
	// Region is the AWS region put in EC2 ARNs; "" gives "*".
	Region string
	// Account is the AWS account id put in EC2 ARNs; "" gives "*".
	Account string
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
		return "arn:aws:route53:::" + resource
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, account, resource)
}

// ForNode returns the least-privilege policy a node needs for the
// given groups and fencing mode. Witnesses need no AWS permission at all.
// Describe* calls cannot be scoped to resources in IAM, so they use "*".
func ForNode(groups []fsm.GroupSpec, fencingMode config.FencingMode, scope Scope) Policy {
	pol := Policy{Version: "2012-10-17"}
	describe := map[string]bool{}
	add := func(sid string, actions []string, resources ...string) {
		sort.Strings(resources)
		pol.Statement = append(pol.Statement, Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources})
	}
	if fencingMode == config.FencingAWSStop {
		add("RafthaFenceLostOwner", []string{"ec2:StopInstances"}, scope.arn("ec2", "instance/*"))
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
		add("RafthaSourceDestCheck", []string{"ec2:ModifyNetworkInterfaceAttribute"}, scope.arn("ec2", "network-interface/*"))
		describe["ec2:DescribeRouteTables"] = true
		describe["ec2:DescribeNetworkInterfaces"] = true
	}
	if len(eips) > 0 {
		var res []string
		for a := range eips {
			res = append(res, scope.arn("ec2", "elastic-ip/"+a))
		}
		res = append(res, scope.arn("ec2", "instance/*"), scope.arn("ec2", "network-interface/*"))
		actions := []string{"ec2:AssociateAddress"}
		if disassociate {
			actions = append(actions, "ec2:DisassociateAddress")
		}
		add("RafthaElasticIP", actions, res...)
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
		res = append(res, scope.arn("ec2", "instance/*"))
		add("RafthaEBSAttach", []string{"ec2:AttachVolume", "ec2:DetachVolume"}, res...)
	}
	var d []string
	for a := range describe {
		d = append(d, a)
	}
	if len(d) > 0 {
		sort.Strings(d)
		add("RafthaDescribe", d, "*")
	}
	return pol
}

func trimZone(z string) string {
	const p = "/hostedzone/"
	if len(z) > len(p) && z[:len(p)] == p {
		return z[len(p):]
	}
	return z
}
