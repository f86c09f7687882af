package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// brokenFencer returns an EC2 fencer whose endpoint nobody listens on.
func brokenFencer(t *testing.T) *awsres.Fencer {
	t.Helper()
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), MaxAttempts: 2, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := awsres.NewFencer(cfg)
	f.CallTimeout = time.Second
	return f
}

// TestFenceTargetNeverSwitches: a fence fails, then the node to fence
// reports another instance id. The winner must fence the instance that
// held the group as well as the new one, never only the new one.
func TestFenceTargetNeverSwitches(t *testing.T) {
	c, moto, _ := awsCluster(t, "n1", "n2", "w1")
	gate := &fenceGate{good: awsres.NewFencer(moto.Config(t)), broken: brokenFencer(t)}
	gate.good.MinDelay, gate.good.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	c.configure(func(m *testMember) { m.opts.Fencer = gate })
	orig := c.member("n1").cfg.AWS.InstanceID
	other := moto.RunNodeInstances(t, "n1")[0]
	c.startMarker("n1", "n2")
	c.kill("n1")
	waitFor(t, 20*time.Second, "a fence-failed event", func() bool { return strings.Contains(kinds(c.events("db")), "fence-failed") })
	// n1 now claims another instance (a rebuilt host, or a wrong report).
	if err := c.leader().srv.AddMember(ctxT(t, 10*time.Second), api.MemberRequest{ID: "n1", Address: c.member("n1").cfg.Bind, Role: "node", InstanceID: other}, ""); err != nil {
		t.Fatal(err)
	}
	gate.mu.Lock()
	gate.useOK = true
	gate.mu.Unlock()
	c.waitOnline("db", "n2")
	if st := moto.State(t, orig); st != "stopped" {
		t.Fatalf("n1's instance %s that ran the group is %s while n2 runs it", orig, st)
	}
	if st := moto.State(t, other); st != "stopped" {
		t.Fatalf("n1's reported instance %s is %s", other, st)
	}
	var fenced fsm.Event
	for _, e := range c.events("db") {
		if e.Kind == "fenced" {
			fenced = e
		}
	}
	for _, id := range []string{orig, other} {
		if !strings.Contains(fenced.Reason, id+" verified by tag raftha:node=n1") {
			t.Fatalf("fenced event %q does not record the verification of %s", fenced.Reason, id)
		}
	}
}
