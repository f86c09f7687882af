package server

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestGroupApplyRefusesStopTimeoutsBeyondStopDeadline: a resource whose
// own stop timeout is longer than fencing.stop_deadline could not be
// stopped by a self-fence in time; the apply names it with its line.
func TestGroupApplyRefusesStopTimeoutsBeyondStopDeadline(t *testing.T) {
	c := newTestCluster(t, "n1")
	c.startAll()
	l := c.leader()
	group := func(timeout string) []byte {
		return []byte(`groups:
  - name: db
    nodes: [n1]
    resources:
      - name: app
        type: exec
        start: "true"
        timeout: ` + timeout + "\n")
	}
	_, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("30s"), "test")
	var el ErrorList
	if !errors.As(err, &el) || len(el) != 1 || el[0].Path != "groups[0].resources[0]" || el[0].Line != 5 ||
		!strings.Contains(el[0].Msg, "resource app (exec) may take 30s to stop, longer than fencing.stop_deadline 10s") {
		t.Fatalf("apply with a 30s stop timeout and stop_deadline 10s: %v, want one error at line 5 naming app", err)
	}
	if _, ok := l.srv.State().Groups["db"]; ok {
		t.Fatal("group db applied despite the error")
	}
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), group("10s"), "test"); err != nil {
		t.Fatalf("apply with a stop timeout equal to stop_deadline: %v", err)
	}
}
