package groupfile_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
	"github.com/raftha/raftha/resources/exec"
	"github.com/raftha/raftha/resources/gohandler"
)

// TestSpecsMatchTheGroupFile: a group defined in Go gives the same specs
// (defaults included) as the same group written as a group file.
func TestSpecsMatchTheGroupFile(t *testing.T) {
	reg := builtin.Registry()
	stop := config.Duration(5 * time.Second)
	zero, three := 0, 3
	never := time.Duration(0)
	goGroups := []groupfile.Group{{
		Name: "db", Nodes: []string{"n1", "n2"}, Failback: true,
		StartRetries: &three, StartRetryBackoff: 500 * time.Millisecond, RetryFailedAfter: &never,
		Resources: []groupfile.Resource{
			{Name: "app", Type: "exec", Params: exec.Params{Run: "sleep 100", Check: "true"},
				Monitor: &groupfile.Monitor{Interval: 2 * time.Second, RestartsBeforeFailover: &zero}},
			{Name: "primary", Type: "go", Params: &gohandler.Params{Handler: "primary", StopTimeout: &stop}},
			{Name: "web", Type: "exec", Params: map[string]any{"run": "sleep 200"}},
		},
	}}
	yamlFile := `
groups:
  - name: db
    nodes: [n1, n2]
    failback: true
    start_retries: 3
    start_retry_backoff: 500ms
    retry_failed_after: 0s
    resources:
      - name: app
        type: exec
        run: sleep 100
        check: "true"
        monitor: {interval: 2s, restarts_before_failover: 0}
      - name: primary
        type: go
        handler: primary
        stop_timeout: 5s
      - name: web
        type: exec
        run: sleep 200
`
	got, errs := groupfile.Specs(goGroups, reg)
	if len(errs) > 0 {
		t.Fatalf("Specs: %v", errs)
	}
	want, _, errs := groupfile.Parse([]byte(yamlFile), reg)
	if len(errs) > 0 {
		t.Fatalf("Parse: %v", errs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Go-defined specs differ from the group file's:\n got %+v\nwant %+v", got, want)
	}
	if got[0].Resources[0].Monitor.Timeout != groupfile.DefaultMonitorTimeout {
		t.Fatalf("monitor timeout %s, want the default %s", got[0].Resources[0].Monitor.Timeout, groupfile.DefaultMonitorTimeout)
	}
}

// TestSpecsNameTheField: every problem of a Go-defined group names its
// field by its group-file path and carries no line (the caller wrote no
// file).
func TestSpecsNameTheField(t *testing.T) {
	reg := builtin.Registry()
	one := 0
	_, errs := groupfile.Specs([]groupfile.Group{
		{Name: "db", Resources: []groupfile.Resource{
			{Name: "primary", Type: "go", Params: gohandler.Params{}},
			{Name: "x", Type: "nosuch"},
			{Name: "y", Type: "exec", Params: map[string]any{"rn": "true"}},
			{Name: "z", Type: "exec", Params: exec.Params{Run: "true"}, Monitor: &groupfile.Monitor{FailuresBeforeRestart: &one}},
		}},
		{Nodes: []string{"n1"}},
	}, reg)
	want := []string{
		"groups[0].nodes: required",
		"groups[0].resources[0]: handler: required",
		`groups[0].resources[1].type: unknown resource type "nosuch"`,
		`unknown key "rn" in groups[0].resources[2]`,
		"groups[0].resources[3].monitor.failures_before_restart: must be at least 1",
		"groups[1].name: required",
	}
	text := errs.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("errors lack %q:\n%s", w, text)
		}
	}
	for _, e := range errs {
		if e.Line != 0 {
			t.Errorf("error %q has line %d of a file the caller never wrote", e.Msg, e.Line)
		}
	}
}

// TestSpecsRefuseParamsThatAreNotSettings: params must encode to a
// mapping of the type's settings; Resource fields are not settings.
func TestSpecsRefuseParamsThatAreNotSettings(t *testing.T) {
	reg := builtin.Registry()
	for _, p := range []any{"run: true", map[string]any{"name": "other"}, func() {}} {
		_, errs := groupfile.Specs([]groupfile.Group{{Name: "db", Nodes: []string{"n1"},
			Resources: []groupfile.Resource{{Name: "a", Type: "exec", Params: p}}}}, reg)
		if len(errs) != 1 || errs[0].Path != "groups[0].resources[0]" {
			t.Errorf("params %T %v: errors %v, want one at groups[0].resources[0]", p, p, errs)
		}
	}
}
