package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// resStatusFixture is group db on n1 with a healthy resource and one
// whose check fails after a restart (its error spans lines).
func resStatusFixture() api.GroupStatus {
	at := time.Date(2026, 11, 29, 15, 4, 5, 0, time.Local)
	errAt := at.Add(-time.Second)
	return api.GroupStatus{Name: "db", Owner: "n1", Epoch: 7, State: fsm.StateOnline, Nodes: []string{"n1", "n2"},
		Resources: []string{"app (exec)", "web (exec)"},
		ResourceStatus: []api.ResourceStatus{
			{Name: "app", Type: "exec", Node: "n1", State: api.ResourceRunning, LastCheck: &at, LastCheckResult: api.CheckOK,
				LastStart: api.Duration(212 * time.Millisecond)},
			{Name: "web", Type: "exec", Node: "n1", State: api.ResourceCheckFailing, LastCheck: &at, LastCheckResult: api.CheckFailed,
				ConsecutiveFailures: 2, Restarts: 1, LastError: "check command failed (exit status 1):\nweb-broken", LastErrorAt: &errAt,
				LastStart: api.Duration(5 * time.Millisecond), LastStop: api.Duration(151 * time.Millisecond)},
		}}
}

// TestStatusShowsResourceRows: `raftha status` prints a compact row per
// resource under its group's row, with its state, last check, failures
// in a row, restarts and (for a resource in trouble) its last error.
func TestStatusShowsResourceRows(t *testing.T) {
	st := &api.Status{Leader: "n1", Groups: []api.GroupStatus{resStatusFixture()}}
	var b strings.Builder
	printStatus(&b, st, 0)
	out := b.String()
	lines := strings.Split(out, "\n")
	var at int
	for i, l := range lines {
		if strings.HasPrefix(l, "db ") {
			at = i
		}
	}
	if at == 0 || at+2 >= len(lines) {
		t.Fatalf("no group row for db:\n%s", out)
	}
	app, web := lines[at+1], lines[at+2]
	for _, want := range []string{"  app", "exec", "running", "check ok at 15:04:05"} {
		if !strings.Contains(app, want) {
			t.Errorf("app row lacks %q: %q", want, app)
		}
	}
	if strings.Contains(app, "error") {
		t.Errorf("a healthy resource shows an error: %q", app)
	}
	for _, want := range []string{"  web", "check-failing", "check failed at 15:04:05", "2 failures in a row", "1 restart on n1",
		"last error: check command failed (exit status 1): web-broken"} {
		if !strings.Contains(web, want) {
			t.Errorf("web row lacks %q: %q", want, web)
		}
	}
	// The resource rows keep the group table's columns aligned.
	if hdr := lines[at-1]; strings.Index(hdr, "STATE") != strings.Index(web, "check-failing") {
		t.Errorf("resource state not under STATE:\n%s\n%s", hdr, web)
	}
}

// TestGroupShowResourceTable: `raftha group show` prints the resource
// table with state, last check, failures, restarts, start and stop
// durations and the last error in full, and says why when there is none.
func TestGroupShowResourceTable(t *testing.T) {
	var b strings.Builder
	printGroupDetail(&b, &api.GroupDetail{Status: resStatusFixture()})
	out := b.String()
	for _, want := range []string{"Resource status (on n1, epoch 7):", "NAME", "STATE", "LAST CHECK", "FAILS", "RESTARTS", "START", "STOP", "LAST ERROR"} {
		if !strings.Contains(out, want) {
			t.Fatalf("group show lacks %q:\n%s", want, out)
		}
	}
	var web string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  web ") && strings.Contains(l, "check-failing") {
			web = l
		}
	}
	if f := strings.Fields(web); len(f) < 9 || f[1] != "check-failing" || f[2] != "failed" || f[5] != "2" || f[6] != "1" || f[7] != "5ms" || f[8] != "151ms" ||
		!strings.HasSuffix(web, "15:04:04 check command failed (exit status 1): web-broken") {
		t.Fatalf("web's row: %q", web)
	}
	b.Reset()
	printGroupDetail(&b, &api.GroupDetail{Status: api.GroupStatus{Name: "db", Owner: "n1", Epoch: 7}})
	if !strings.Contains(b.String(), "Resource status: (no report from the owner at this epoch yet)") {
		t.Fatalf("no resource status and no word why:\n%s", b.String())
	}
}
