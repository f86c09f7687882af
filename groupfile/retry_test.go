package groupfile

import (
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/resources"
)

// TestRetryDefaults: a group file without a retry policy gets the
// documented defaults; given values win, 0 included.
func TestRetryDefaults(t *testing.T) {
	specs, _, errs := Parse([]byte("groups:\n  - name: a\n    nodes: [n1]\n  - name: b\n    nodes: [n1]\n    start_retries: 0\n    start_retry_backoff: 500ms\n    retry_failed_after: 0s\n"), resources.NewRegistry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	a, b := specs[0], specs[1]
	if a.StartRetries != DefaultStartRetries || a.StartRetryBackoff != DefaultStartRetryBackoff || a.RetryFailedAfter != DefaultRetryFailedAfter {
		t.Fatalf("defaults: %+v", a)
	}
	if b.StartRetries != 0 || b.StartRetryBackoff != 500*time.Millisecond || b.RetryFailedAfter != 0 {
		t.Fatalf("given values: %+v", b)
	}
}

// TestRetryErrorsHaveTheirLine: out-of-range values are reported at their
// line, each with what is allowed.
func TestRetryErrorsHaveTheirLine(t *testing.T) {
	src := `groups:
  - name: db
    nodes: [n1]
    start_retries: -1
    start_retry_backoff: 0s
    retry_failed_after: 10ms
`
	_, _, errs := Parse([]byte(src), resources.NewRegistry())
	want := []struct {
		line int
		path string
	}{{4, "groups[0].start_retries"}, {5, "groups[0].start_retry_backoff"}, {6, "groups[0].retry_failed_after"}}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for i, w := range want {
		if e := errs[i]; e.Line != w.line || e.Path != w.path || e.Msg == "" {
			t.Fatalf("error %d: %+v, want line %d path %s", i, e, w.line, w.path)
		}
	}
	if got := yamlstrict.ErrorList(errs).WithFile("groups.yaml").Error(); got == "" {
		t.Fatal("no message")
	}
}
