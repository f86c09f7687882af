// Package motoserver starts moto_server (a real AWS API emulator, Python)
// on a free loopback port for tests and benchmarks, and seeds it with EC2
// instances. It is test support: production code never imports it.
package motoserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/raftha/raftha/internal/freeport"
	awsres "github.com/raftha/raftha/resources/aws"
)

// Region is the region every test uses.
const Region = "ap-northeast-1"

// Server is a running moto_server.
type Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
	logPath  string
	keepLog  bool
}

// Start runs moto_server on a free loopback port and stops it (by PID,
// with its process group) when the test ends. It fails the test when
// moto_server is missing: the AWS paths must be proven against it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		tb.Fatalf("moto_server: %v", err)
	}
	tb.Cleanup(func() {
		s.keepLog = tb.Failed()
		s.Stop()
	})
	return s
}

func start() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found on PATH (install it: pip install 'moto[server]'; .ci/run does): %w", err)
	}
	ports, err := freeport.Loopback(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.CreateTemp("", "moto-*.log")
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
		defer logf.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), logPath: logName(logf)}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("moto_server exited at start (log: %s)", logName(logf))
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.Stop()
	return nil, fmt.Errorf("moto_server did not answer on %s within 30s", s.Endpoint)
}

func logName(f *os.File) string {
	if f == nil {
		return "none"
	}
	return filepath.Clean(f.Name())
}

// Stop kills moto_server's process group and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	if s.logPath != "" && s.logPath != "none" && !s.keepLog {
		os.Remove(s.logPath)
	}
}

// Env sets the fake credentials and region the SDK needs for moto (moto
// accepts any). Call it before building clients.
func Env(tb testing.TB) {
	tb.Setenv("AWS_ACCESS_KEY_ID", "testing")
	tb.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	tb.Setenv("AWS_REGION", Region)
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Config returns an aws.Config pointed at s.
func (s *Server) Config(tb testing.TB) aws.Config {
	tb.Helper()
	Env(tb)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: Region, Endpoint: s.Endpoint})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// RunInstances launches n running instances and returns their ids.
func (s *Server) RunInstances(tb testing.TB, n int) []string {
	tb.Helper()
	c := ec2.NewFromConfig(s.Config(tb))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		tb.Fatalf("moto: no images: %v", err)
	}
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)), InstanceType: types.InstanceTypeT3Micro,
	})
	if err != nil {
		tb.Fatalf("moto: RunInstances: %v", err)
	}
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, *i.InstanceId)
	}
	return ids
}

// TagNode tags instance id as member node's (tag raftha:node), which is
// how a fence verifies it stops the right instance.
func (s *Server) TagNode(tb testing.TB, id, node string) {
	tb.Helper()
	c := ec2.NewFromConfig(s.Config(tb))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String(awsres.NodeTagKey), Value: aws.String(node)}}}); err != nil {
		tb.Fatalf("moto: CreateTags %s: %v", id, err)
	}
}

// RunNodeInstances launches one running instance per member id, tagged
// raftha:node=id, and returns their ids in the same order.
func (s *Server) RunNodeInstances(tb testing.TB, nodes ...string) []string {
	tb.Helper()
	ids := s.RunInstances(tb, len(nodes))
	for i, n := range nodes {
		s.TagNode(tb, ids[i], n)
	}
	return ids
}

// State returns an instance's state name.
func (s *Server) State(tb testing.TB, id string) string {
	tb.Helper()
	f := awsres.NewFencer(s.Config(tb))
	st, err := f.State(context.Background(), id)
	if err != nil {
		tb.Fatalf("moto: describe %s: %v", id, err)
	}
	return st
}

// StartInstance starts a stopped instance again and waits until it runs.
func (s *Server) StartInstance(tb testing.TB, id string) {
	tb.Helper()
	c := ec2.NewFromConfig(s.Config(tb))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		tb.Fatalf("moto: StartInstances %s: %v", id, err)
	}
	w := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		tb.Fatalf("moto: %s not running: %v", id, err)
	}
}
