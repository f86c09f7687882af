package iampolicy

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/builtin"
)

// queueParams are the parameters of an embedder's AWS type, registered by
// the test: it declares its own IAM statements.
type queueParams struct {
	Queue string `yaml:"queue" json:"queue"`
}

func (p *queueParams) IAMStatements() []resources.IAMStatement {
	if p.Queue == "bad" {
		return []resources.IAMStatement{{Sid: "AcmeBad", Actions: []string{"sqs:SendMessage"}}}
	}
	return []resources.IAMStatement{
		{Sid: "AcmeQueue", Actions: []string{"sqs:SendMessage", "sqs:ChangeMessageVisibility"},
			Resources: []resources.IAMResource{{Service: "sqs", Resource: p.Queue}}},
		{Sid: "AcmeQueueInstance", Actions: []string{"ec2:CreateTags"}, NodeInstances: true},
		{Sid: "RafthaDescribe", Actions: []string{"sqs:ListQueues"}, Resources: []resources.IAMResource{resources.IAMAny()}},
	}
}

type nopResource struct{}

func (nopResource) Start(context.Context, resources.Token) error { return nil }
func (nopResource) Stop(context.Context, resources.Token) error  { return nil }
func (nopResource) Check(context.Context, resources.Token) error { return nil }

func acmeRegistry(t *testing.T) *resources.Registry {
	t.Helper()
	reg := builtin.Registry()
	if err := reg.Register(resources.Type{
		Name:      "acme.queue",
		NewParams: func() any { return &queueParams{} },
		Build:     func(any, resources.Env) (resources.Resource, error) { return nopResource{}, nil },
	}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestForNodeAsksCustomTypes: a type an embedding service registers
// declares its own statements; ForNode joins them with the built-in
// types' (by Sid), scopes its instance statement like the built-in ones,
// and lists it after the types registered before it.
func TestForNodeAsksCustomTypes(t *testing.T) {
	reg := acmeRegistry(t)
	specs, _, errs := groupfile.Parse([]byte(`groups:
  - name: jobs
    nodes: [n1, n2]
    resources:
      - name: q
        type: acme.queue
        queue: jobs
      - name: q2
        type: acme.queue
        queue: retries
      - name: dns
        type: aws.dns
        hosted_zone_id: Z0123456789ABC
        record: jobs.example.internal
`), reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pol, err := ForNode(reg, specs, config.FencingAWSStop, Scope{Region: "ap-northeast-1", Account: "123456789012", Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range pol.Statement {
		sids = append(sids, s.Sid)
	}
	if want := []string{"RafthaFenceLostOwner", "RafthaRoute53Record", "RafthaRoute53Change", "AcmeQueue", "AcmeQueueInstance", "RafthaDescribe"}; !reflect.DeepEqual(sids, want) {
		t.Fatalf("statements %v, want %v", sids, want)
	}
	st := render(t, pol)
	if got, want := st["AcmeQueue"].Resource, []string{"arn:aws:sqs:ap-northeast-1:123456789012:jobs", "arn:aws:sqs:ap-northeast-1:123456789012:retries"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AcmeQueue Resource %v, want %v", got, want)
	}
	if got, want := st["AcmeQueue"].Action, []string{"sqs:ChangeMessageVisibility", "sqs:SendMessage"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AcmeQueue Action %v, want %v", got, want)
	}
	inst := st["AcmeQueueInstance"]
	if want := []string{"arn:aws:ec2:ap-northeast-1:123456789012:instance/*"}; !reflect.DeepEqual(inst.Resource, want) || inst.Condition["StringEquals"]["aws:ResourceTag/raftha-cluster"] != "prod" {
		t.Errorf("AcmeQueueInstance not scoped by the cluster tag: %+v", inst)
	}
	if got, want := st["RafthaDescribe"].Action, []string{"ec2:DescribeInstances", "sqs:ListQueues"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RafthaDescribe Action %v, want %v", got, want)
	}

	// Lease-only, no built-in AWS type: the custom type alone needs a policy.
	specs, _, errs = groupfile.Parse([]byte("groups:\n  - name: j\n    nodes: [n1]\n    resources:\n      - name: q\n        type: acme.queue\n        queue: jobs\n"), reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pol, err = ForNode(reg, specs, config.FencingLeaseOnly, Scope{Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, pol)["AcmeQueueInstance"].Resource; !reflect.DeepEqual(got, []string{"arn:aws:ec2:*:*:instance/i-0aaaaaaaaaaaaaaa1"}) {
		t.Errorf("AcmeQueueInstance Resource %v", got)
	}
}

// TestForNodeRefusesBadDeclarations: a statement without resources (and
// not on the nodes' instances) would grant nothing or everything; it is
// an error, as is a missing registry.
func TestForNodeRefusesBadDeclarations(t *testing.T) {
	reg := acmeRegistry(t)
	specs, _, errs := groupfile.Parse([]byte("groups:\n  - name: j\n    nodes: [n1]\n    resources:\n      - name: q\n        type: acme.queue\n        queue: bad\n"), reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, err := ForNode(reg, specs, config.FencingLeaseOnly, Scope{Cluster: "prod"}); !errors.Is(err, ErrBadStatement) {
		t.Errorf("statement without resources: got %v, want ErrBadStatement", err)
	}
	if _, err := ForNode(nil, specs, config.FencingLeaseOnly, Scope{Cluster: "prod"}); !errors.Is(err, ErrBadStatement) {
		t.Errorf("no registry: got %v, want ErrBadStatement", err)
	}
}
