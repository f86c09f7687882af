package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// externalMain is a service that embeds raftha the way the README says,
// with lease-only fencing and a Go callback: no AWS anywhere.
const externalMain = `package main

import (
	"context"
	"log"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/server"
)

func main() {
	cfg, err := config.LoadConfigFile("member.yaml")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(*cfg, server.Options{Handlers: map[string]server.OwnerFunc{
		"primary": func(ctx context.Context, tok resources.Token) error { <-ctx.Done(); return nil },
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = srv.ApplyGroupSpecs(ctx, []groupfile.Group{{Name: "app", Nodes: []string{cfg.NodeID},
		Resources: []groupfile.Resource{{Name: "p", Type: "go", Params: gohandler.Params{Handler: "primary"}}}}}, "svc")
	if err != nil {
		log.Fatal(err)
	}
	_ = srv.Shutdown(ctx)
}
`

// TestEmbeddingLinksNoAWSSDK builds a separate module that imports raftha
// as a user's service would (a replace directive points at this checkout)
// and checks with `go version -m` that its binary holds no
// aws-sdk-go-v2 module; the agent's package graph, as a control, does.
func TestEmbeddingLinksNoAWSSDK(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH: cannot build the external module here")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/counter\n\ngo 1.23\n\nrequire github.com/raftha/raftha v0.0.0\n\nreplace github.com/raftha/raftha => " + root + "\n",
		"go.sum":  string(sum),
		"main.go": externalMain,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		// Offline, as on the CI machine: every module comes from the cache.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return string(out)
	}
	bin := filepath.Join(mod, "counter")
	run(mod, "build", "-o", bin, ".")
	info := run(mod, "version", "-m", bin)
	if !strings.Contains(info, "github.com/raftha/raftha") {
		t.Fatalf("go version -m does not list raftha; the check would prove nothing:\n%s", info)
	}
	if strings.Contains(info, "github.com/aws/aws-sdk-go-v2") {
		t.Fatalf("a lease-only embedder links the AWS SDK:\n%s", info)
	}
	if deps := run(root, "list", "-deps", "./cmd/raftha"); !strings.Contains(deps, "github.com/aws/aws-sdk-go-v2/service/ec2") {
		t.Fatalf("control: the agent's package graph lacks the EC2 client; the check above would prove nothing")
	}
}
