package integration

// The CLI against the harness's agents, the status views the tests read,
// and the waits on them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run executes the raftha binary with args (no API client settings) and
// fails the test on error.
func (h *harness) run(timeout time.Duration, args ...string) string {
	h.t.Helper()
	out, err := h.cli(nil, timeout, args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// cli runs the raftha binary from the root namespace; with api set, as
// the operator against that member's API.
func (h *harness) cli(api *member, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Dir = h.dir
	cmd.Env = cleanEnv()
	if api != nil {
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("RAFTHA_API=https://%s:%d", api.ip, api.apiPort),
			"RAFTHA_CA_CERT="+filepath.Join(h.tlsDir, "ca.pem"),
			"RAFTHA_CLIENT_CERT="+filepath.Join(h.tlsDir, "operator.pem"),
			"RAFTHA_CLIENT_KEY="+filepath.Join(h.tlsDir, "operator-key.pem"))
	}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("raftha %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// reachable lists the members the test can ask (running, not paused, link
// up), those not partitioned first.
func (h *harness) reachable() []*member {
	var a, b []*member
	for _, m := range h.members {
		if m.exited() || m.paused.Load() || m.linkDown.Load() {
			continue
		}
		if m.cut.Load() {
			b = append(b, m)
		} else {
			a = append(a, m)
		}
	}
	return append(a, b...)
}

// status asks the reachable members in turn for `raftha status --json`
// and returns the first answer that is not stale (from a ready leader).
func (h *harness) status() (*statusView, error) {
	err := fmt.Errorf("no member to ask")
	wait := h.statusWait
	if wait == 0 {
		wait = 5 * time.Second
	}
	for _, m := range h.reachable() {
		out, e := h.cli(m, wait, append([]string{"status", "--json"}, h.statusArgs...)...)
		if e != nil {
			err = e
			continue
		}
		var st statusView
		if e := json.Unmarshal([]byte(out), &st); e != nil {
			err = fmt.Errorf("status --json from %s: %v: %q", m.id, e, out)
			continue
		}
		if st.Stale {
			err = fmt.Errorf("stale status from %s: %s", m.id, st.StaleReason)
			continue
		}
		return &st, nil
	}
	return nil, err
}

// waitStatus polls the status every 100ms until cond holds, for at most
// d. When it never does, it reports a failure through the harness's fail
// hook (by default: the test fails now) and returns nil.
func (h *harness) waitStatus(d time.Duration, what string, cond func(*statusView) bool) *statusView {
	h.t.Helper()
	deadline := time.Now().Add(d)
	var last *statusView
	var lastErr error
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		st, err := h.status()
		if err == nil {
			last, lastErr = st, nil
			if cond(st) {
				return st
			}
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	desc := "none"
	if last != nil {
		g, _ := last.group("db")
		desc = fmt.Sprintf("leader %s, db %+v, events %s", last.Leader, g, kinds(last.events("db")))
	}
	h.failf("timed out after %s waiting for %s; last status: %s; last error: %v", d, what, desc, lastErr)
	return nil
}

// waitFor polls cond every 20ms until it holds, for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// statusView is the part of `raftha status --json` the tests read.
type statusView struct {
	Leader      string `json:"leader"`
	Term        uint64 `json:"term"`
	AnsweredBy  string `json:"answered_by"`
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason"`
	Members     []struct {
		ID      string `json:"id"`
		Role    string `json:"role"`
		State   string `json:"state"`
		Healthy bool   `json:"healthy"`
	} `json:"members"`
	Groups []groupView `json:"groups"`
	Events []eventView `json:"events"`
}

type groupView struct {
	Name   string `json:"name"`
	Owner  string `json:"owner"`
	Epoch  uint64 `json:"epoch"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

type eventView struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Epoch  uint64    `json:"epoch"`
	Cause  string    `json:"cause"`
	Reason string    `json:"reason"`
}

func (s *statusView) group(name string) (groupView, bool) {
	for _, g := range s.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return groupView{}, false
}

// events returns the group's events in log order.
func (s *statusView) events(group string) []eventView {
	var out []eventView
	for _, e := range s.Events {
		if e.Group == group {
			out = append(out, e)
		}
	}
	return out
}

func kinds(evs []eventView) string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}
