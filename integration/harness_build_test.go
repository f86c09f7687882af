package integration

// What every fixture of this package shares before any agent runs: the
// raftha binary (built once per run), the agents' environment and the
// timing profiles.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// rafthaBinary builds ./cmd/raftha from the module root into a directory
// that lives for the whole run (TestMain removes it).
func rafthaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "raftha-integration-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "raftha")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/raftha")
		cmd.Dir = root
		cmd.WaitDelay = 5 * time.Second
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/raftha in %s: %v\n%s", root, err, out)
			return
		}
		buildBin = bin
		fmt.Fprintf(os.Stderr, "integration: built %s in %s\n", bin, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func cleanupBuild() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the go.mod of github.com/raftha/raftha.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 16; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			first, _, _ := strings.Cut(string(data), "\n")
			if strings.TrimSpace(first) == "module github.com/raftha/raftha" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no go.mod of github.com/raftha/raftha above the working directory")
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ---------------------------------------------------------------------------
// Timing profiles.

type timing struct {
	heartbeat, lease, failover time.Duration
}

// fastTiming is the in-process tests' profile: still tolerant of a loaded
// 2-core machine.
var fastTiming = timing{heartbeat: 100 * time.Millisecond, lease: 600 * time.Millisecond, failover: 1200 * time.Millisecond}

// cleanEnv is this process's environment without AWS and raftha settings,
// so nothing from the developer's shell leaks into the children.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "RAFTHA_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
