package aws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// TestFenceConcurrentCallsAreRaceFree: one Fencer (zero-valued tuning, so
// defaults apply) fences several instances at once, as concurrent
// takeovers of different groups do. Under -race this must report nothing.
func TestFenceConcurrentCallsAreRaceFree(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1", "n2", "n3")
	f := awsres.NewFencer(m.Config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.State(ctx, id)
			_, errs[i] = f.Fence(ctx, awsres.Target{InstanceID: id, NodeID: fmt.Sprintf("n%d", i+1)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("fence %s: %v", ids[i], err)
		}
		if st := m.State(t, ids[i]); st != "stopped" {
			t.Fatalf("%s is %s after the fence", ids[i], st)
		}
	}
}
