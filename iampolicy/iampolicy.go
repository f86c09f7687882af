// Package iampolicy owns the least-privilege IAM policy a node needs for a group file (`raftha iam-policy`).
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
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
	// ErrBadStatement means a resource type (or the fencer) declared a
	// malformed statement (resources.IAMDeclarer), or no registry was
	// given.
	ErrBadStatement = errors.New("bad IAM statement declaration")
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
// given groups and fencing mode: the statements of the fencer (aws-stop:
// the EC2 fencer's, resources/aws.FenceIAMStatements) and those each
// resource declares through its parameters (resources.IAMDeclarer). reg
// is the registry the groups were parsed with; it decodes each resource's
// parameters, and its registration order orders the statements: the
// fencer's first, then each type's in the order the types were
// registered, statements joined by Sid, and the statements on "*" last.
// Witnesses need no AWS permission at all.
// Describe* calls cannot be scoped to resources in IAM, so they use "*".
// Instance actions (statements with NodeInstances: StopInstances, and the
// instance side of AssociateAddress and Attach/DetachVolume) are scoped
// to the nodes' instance ARNs when scope knows every node's instance id,
// else to instances tagged raftha-cluster=scope.Cluster; with neither it
// returns an error wrapping ErrUnscoped. When nothing needs a permission
// it returns an error wrapping ErrNoStatement; a malformed declaration is
// an error wrapping ErrBadStatement.
func ForNode(reg *resources.Registry, groups []fsm.GroupSpec, fencingMode config.FencingMode, scope Scope) (Policy, error) {
	if reg == nil {
		return Policy{}, fmt.Errorf("%w: no resource type registry", ErrBadStatement)
	}
	var j joiner
	if fencingMode == config.FencingAWSStop {
		if err := j.add(awsres.FenceIAMStatements()); err != nil {
			return Policy{}, fmt.Errorf("fencing: %w", err)
		}
	}
	declared, err := declarations(reg, groups)
	if err != nil {
		return Policy{}, err
	}
	for _, t := range reg.Types() {
		for _, d := range declared[t.Name] {
			if err := j.add(d.statements); err != nil {
				return Policy{}, fmt.Errorf("group %s resource %s: %w", d.group, d.resource, err)
			}
		}
	}
	pol, err := j.policy(scope, groupNodes(groups))
	if err != nil {
		return Policy{}, err
	}
	if len(pol.Statement) == 0 {
		return Policy{}, fmt.Errorf("%w: fencing mode %s and no aws.* resource in the groups; attach no policy", ErrNoStatement, fencingMode)
	}
	return pol, nil
}

// declaration is what one resource of the groups declares.
type declaration struct {
	group, resource string
	statements      []resources.IAMStatement
}

// declarations returns, by type name, what the resources of groups
// declare, in the groups' order.
func declarations(reg *resources.Registry, groups []fsm.GroupSpec) (map[string][]declaration, error) {
	out := map[string][]declaration{}
	for _, g := range groups {
		for _, r := range g.Resources {
			t, err := reg.Lookup(r.Type)
			if err != nil {
				return nil, fmt.Errorf("group %s resource %s: %w", g.Name, r.Name, err)
			}
			p := t.NewParams()
			if len(r.Params) > 0 {
				if err := json.Unmarshal(r.Params, p); err != nil {
					return nil, fmt.Errorf("group %s resource %s: params: %w", g.Name, r.Name, err)
				}
			}
			if d, ok := p.(resources.IAMDeclarer); ok {
				out[r.Type] = append(out[r.Type], declaration{group: g.Name, resource: r.Name, statements: d.IAMStatements()})
			}
		}
	}
	return out, nil
}

// groupNodes returns the nodes the groups name, sorted.
func groupNodes(groups []fsm.GroupSpec) []string {
	set := map[string]bool{}
	for _, g := range groups {
		for _, n := range g.Nodes {
			set[n] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// joined is the statements of one Sid, joined.
type joined struct {
	sid           string
	actions       map[string]bool
	resources     map[resources.IAMResource]bool
	nodeInstances bool
}

// joiner joins declared statements by Sid, in the order each Sid first
// appears.
type joiner struct {
	order []*joined
	bySid map[string]*joined
}

func (j *joiner) add(sts []resources.IAMStatement) error {
	if j.bySid == nil {
		j.bySid = map[string]*joined{}
	}
	for _, st := range sts {
		switch {
		case st.Sid == "":
			return fmt.Errorf("%w: a statement has no Sid", ErrBadStatement)
		case len(st.Actions) == 0:
			return fmt.Errorf("%w: statement %s has no action", ErrBadStatement, st.Sid)
		case st.NodeInstances == (len(st.Resources) > 0):
			return fmt.Errorf("%w: statement %s needs either resources or NodeInstances, not both", ErrBadStatement, st.Sid)
		}
		s := j.bySid[st.Sid]
		if s == nil {
			s = &joined{sid: st.Sid, actions: map[string]bool{}, resources: map[resources.IAMResource]bool{}, nodeInstances: st.NodeInstances}
			j.bySid[st.Sid] = s
			j.order = append(j.order, s)
		}
		if s.nodeInstances != st.NodeInstances {
			return fmt.Errorf("%w: statement %s is declared both on the nodes' instances and on resources", ErrBadStatement, st.Sid)
		}
		for _, a := range st.Actions {
			s.actions[a] = true
		}
		for _, r := range st.Resources {
			s.resources[r] = true
		}
	}
	return nil
}

// policy renders the joined statements; those on "*" go last.
func (j *joiner) policy(scope Scope, nodes []string) (Policy, error) {
	pol := Policy{Version: "2012-10-17"}
	var inst *instanceScope
	var unscoped []Statement
	for _, s := range j.order {
		st := Statement{Sid: s.sid, Effect: "Allow", Action: slices.Sorted(maps.Keys(s.actions))}
		anyResource := false
		if s.nodeInstances {
			if inst == nil {
				is, err := scope.instances(nodes)
				if err != nil {
					return Policy{}, err
				}
				inst = &is
			}
			st.Resource, st.Condition = append([]string(nil), inst.resources...), inst.condition
		} else {
			for r := range s.resources {
				if r == resources.IAMAny() {
					anyResource = true
					st.Resource = append(st.Resource, "*")
					continue
				}
				st.Resource = append(st.Resource, scope.arn(r.Service, r.Resource))
			}
			sort.Strings(st.Resource)
		}
		if anyResource {
			unscoped = append(unscoped, st)
			continue
		}
		pol.Statement = append(pol.Statement, st)
	}
	pol.Statement = append(pol.Statement, unscoped...)
	return pol, nil
}
