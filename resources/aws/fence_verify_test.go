package aws_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// TestFenceVerifiesTheInstanceIsTheNodes: a fence stops an instance only
// when it is provably the node's, by its raftha:node tag or its private
// IP; any other instance is left running and the fence fails, saying why.
func TestFenceVerifiesTheInstanceIsTheNodes(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunInstances(t, 3)
	m.TagNode(t, ids[0], "n1")
	f := awsres.NewFencer(m.Config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ec2.NewFromConfig(m.Config(t))
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[1:2]})
	if err != nil {
		t.Fatal(err)
	}
	ip := *out.Reservations[0].Instances[0].PrivateIpAddress

	// ids[2] is neither tagged for n2 nor at its address: refused, running.
	_, err = f.Fence(ctx, awsres.Target{InstanceID: ids[2], NodeID: "n2", Host: "198.18.0.99"})
	if !errors.Is(err, awsres.ErrFenceFailed) || !errors.Is(err, awsres.ErrInstanceNotVerified) {
		t.Fatalf("unverified instance: %v", err)
	}
	if !strings.Contains(err.Error(), "raftha:node") || !strings.Contains(err.Error(), "198.18.0.99") {
		t.Fatalf("the error does not say what was checked: %v", err)
	}
	// n1's tag on ids[0] does not make it n2's.
	if _, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n2", Host: "198.18.0.99"}); !errors.Is(err, awsres.ErrInstanceNotVerified) {
		t.Fatalf("another node's instance: %v", err)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if st := m.State(t, id); st != "running" {
			t.Fatalf("unverified instance %s was stopped: %s", id, st)
		}
	}

	v, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1", Host: "198.18.0.99"})
	if err != nil || v != ids[0]+" verified by tag raftha:node=n1" {
		t.Fatalf("tagged instance: %q %v", v, err)
	}
	v, err = f.Fence(ctx, awsres.Target{InstanceID: ids[1], NodeID: "n2", Host: ip})
	if err != nil || v != ids[1]+" verified by private IP "+ip {
		t.Fatalf("instance at the node's address: %q %v", v, err)
	}
	for _, id := range ids[:2] {
		if st := m.State(t, id); st != "stopped" {
			t.Fatalf("%s is %s after a verified fence", id, st)
		}
	}
}
