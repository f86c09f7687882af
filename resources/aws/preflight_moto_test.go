package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// clientAs returns an EC2 client of moto signed with an IAM user's key.
func clientAs(t *testing.T, m *motoserver.Server, keyID, secret string) *ec2.Client {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: m.Endpoint, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(cfg)
}

// TestStopCheckAgainstMotoIAM: with moto enforcing IAM, the DryRun
// StopInstances check of an identity whose policy lacks ec2:StopInstances
// is denied, and of one whose policy has it is allowed (DryRunOperation),
// and the instance keeps running either way.
func TestStopCheckAgainstMotoIAM(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1", "n2")
	noStopID, noStopSecret := m.IAMUser(t, "nostop", motoserver.EC2Policy("ec2:DescribeInstances", "ec2:AttachVolume", "ec2:DetachVolume"))
	stopID, stopSecret := m.IAMUser(t, "stop", motoserver.EC2Policy("ec2:StopInstances", "ec2:DescribeInstances"))
	m.EnforceIAM(t)

	check := awsres.StopCheck(ids[1], "node n2")
	policy := awsres.CheckPolicy{Attempts: 3, CallTimeout: 10 * time.Second, Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
	ctx := context.Background()

	denied := clientAs(t, m, noStopID, noStopSecret)
	res := awsres.RunCheck(ctx, denied, check, policy)
	t.Logf("policy without ec2:StopInstances: %+v", res)
	if res.Verdict != awsres.PermissionDenied || res.Attempts != 1 {
		t.Errorf("policy without ec2:StopInstances: %+v, want denied at the first call", res)
	}
	allowed := clientAs(t, m, stopID, stopSecret)
	res = awsres.RunCheck(ctx, allowed, check, policy)
	t.Logf("policy with ec2:StopInstances: %+v", res)
	if res.Verdict != awsres.PermissionAllowed || res.Code != "DryRunOperation" {
		t.Errorf("policy with ec2:StopInstances: %+v, want allowed (DryRunOperation)", res)
	}
	out, err := allowed.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{ids[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if st := out.Reservations[0].Instances[0].State.Name; st != "running" {
		t.Errorf("the dry run changed %s: %s", ids[1], st)
	}
	// An identity moto does not know is neither allowed nor denied.
	stranger := clientAs(t, m, "AKIAUNKNOWN000000000", "x")
	start := time.Now()
	res = awsres.RunCheck(ctx, stranger, check, policy)
	t.Logf("unknown key (%s): %+v", time.Since(start).Round(time.Millisecond), res)
	if res.Verdict != awsres.PermissionUnknown || res.Attempts != 3 {
		t.Errorf("unknown key: %+v, want unknown after 3 attempts", res)
	}
}
