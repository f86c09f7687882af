package aws_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// TestObserveSeesEveryCall: the Observe hook (metrics) sees each API call
// with its service, operation and outcome.
func TestObserveSeesEveryCall(t *testing.T) {
	m := motoserver.Start(t)
	motoserver.Env(t)
	var mu sync.Mutex
	var calls []string
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: m.Endpoint, Observe: func(svc, op string, err error, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, svc+"/"+op+"/"+map[bool]string{true: "ok", false: awsres.ErrorCode(err)}[err == nil])
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-0000000000000dead"}})
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != "EC2/DescribeInstances/ok" || calls[1] != "EC2/StopInstances/InvalidInstanceID.NotFound" {
		t.Fatalf("observed %v", calls)
	}
}
