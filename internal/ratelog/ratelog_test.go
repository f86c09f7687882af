package ratelog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestLogLimiter: the first line of a key is written at once, the repeats
// within the interval are suppressed and counted, the next line after the
// interval says how many were suppressed, and keys are independent.
func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{Every: 5 * time.Second, Now: func() time.Time { return now }}
	var out bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
	for i := 0; i < 90; i++ { // a second of a cut-off node's retries
		l.Log(logger, hclog.Info, "confirm/db", "cannot confirm ownership yet; will retry", "group", "db")
		now = now.Add(11 * time.Millisecond)
	}
	l.Log(logger, hclog.Info, "confirm/web", "cannot confirm ownership yet; will retry", "group", "web")
	if n := strings.Count(out.String(), "cannot confirm ownership yet"); n != 2 {
		t.Fatalf("%d lines written, want 2 (the first of each key):\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "suppressed") {
		t.Fatalf("a first line says it suppressed some:\n%s", out.String())
	}
	now = now.Add(5 * time.Second)
	l.Log(logger, hclog.Info, "confirm/db", "cannot confirm ownership yet; will retry", "group", "db")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; len(lines) != 3 || !strings.Contains(last, "group=db") || !strings.Contains(last, "suppressed=89") {
		t.Fatalf("after the interval: want a third line for db with suppressed=89, got:\n%s", out.String())
	}
	now = now.Add(5 * time.Second)
	if ok, n := l.Allow("confirm/db"); !ok || n != 0 {
		t.Fatalf("a line after a quiet interval: allowed %v, suppressed %d; want true, 0", ok, n)
	}
}

// TestLogLimiterForgetsQuietKeys: the limiter's memory is bounded.
func TestLogLimiterForgetsQuietKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &Limiter{Every: time.Second, Now: func() time.Time { return now }}
	for i := 0; i < maxLimitedKeys; i++ {
		l.Allow(fmt.Sprint("key", i))
	}
	now = now.Add(11 * time.Second)
	l.Allow("new")
	l.mu.Lock()
	n := len(l.keys)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d keys remembered after every old one went quiet, want 1", n)
	}
}
