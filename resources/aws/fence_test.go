package aws_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

func TestFenceStopsInstanceInMoto(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1", "n2")
	f := awsres.NewFencer(m.Config(t))
	if st := m.State(t, ids[0]); st != "running" {
		t.Fatalf("before: %s", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"}); err != nil {
		t.Fatalf("fence: %v", err)
	}
	if st := m.State(t, ids[0]); st != "stopped" {
		t.Fatalf("after fence: %s", st)
	}
	if st := m.State(t, ids[1]); st != "running" {
		t.Fatalf("the other instance was touched: %s", st)
	}
	// Fencing a stopped instance again succeeds (idempotent).
	if _, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"}); err != nil {
		t.Fatalf("second fence: %v", err)
	}
}

func TestFenceUnknownInstanceFails(t *testing.T) {
	m := motoserver.Start(t)
	f := awsres.NewFencer(m.Config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := f.Fence(ctx, awsres.Target{InstanceID: "i-0000000000000dead", NodeID: "n1"})
	if !errors.Is(err, awsres.ErrFenceFailed) || !strings.Contains(err.Error(), "InvalidInstanceID") {
		t.Fatalf("unknown instance: %v", err)
	}
	if _, err := f.Fence(ctx, awsres.Target{NodeID: "n1"}); !errors.Is(err, awsres.ErrFenceFailed) {
		t.Fatalf("empty instance id: %v", err)
	}
}

func TestFenceUnreachableEndpointFailsWithinDeadline(t *testing.T) {
	motoserver.Env(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testsupport.FreePort(t)) // nothing listens there
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: "http://" + addr, MaxAttempts: 3, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := awsres.NewFencer(cfg)
	f.CallTimeout = 2 * time.Second
	start := time.Now()
	_, err = f.Fence(context.Background(), awsres.Target{InstanceID: "i-0123456789abcdef0", NodeID: "n1"})
	if !errors.Is(err, awsres.ErrFenceFailed) {
		t.Fatalf("unreachable: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("fence against an unreachable endpoint took %s", took)
	}
}

// TestFenceTerminatedInstanceSucceeds: EC2 refuses to stop a terminated
// instance, but a terminated instance cannot act: the fence succeeds.
func TestFenceTerminatedInstanceSucceeds(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1")
	cfg := m.Config(t)
	c := ec2.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	if _, err := awsres.NewFencer(cfg).Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"}); err != nil {
		t.Fatalf("fence of a terminated instance: %v", err)
	}
}
