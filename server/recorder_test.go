package server

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/raftha/raftha/integration/recorder"
)

// TestMain lets the test binary act as a recorder process: when
// RAFTHA_TEST_RECORDER names a file, it appends "node epoch unixnano"
// every 5ms until killed. Exec resources in the failover tests run it, so
// the file shows exactly when each node was acting, by the one clock of
// this machine.
func TestMain(m *testing.M) {
	if path := os.Getenv(recorder.Env); path != "" {
		recorder.Run(path)
		return
	}
	os.Exit(m.Run())
}

// recorderGroup is a group whose resource is the recorder, started by
// raftha as a supervised run command.
func recorderGroup(t testing.TB, file string, extra string, nodes ...string) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [%s]
%s    resources:
      - name: app
        type: exec
        run: %q
        timeout: 5s
        env:
          RAFTHA_TEST_RECORDER: %s
`, strings.Join(nodes, ", "), extra, "exec '"+self+"'", file)
}

// interval is one node's acting period at one epoch, as recorded.
type interval = recorder.Interval

// readIntervals parses a recorder file into intervals sorted by start.
func readIntervals(t testing.TB, file string) []interval {
	t.Helper()
	recs, err := recorder.ReadRecords(file)
	if err != nil {
		t.Fatal(err)
	}
	return recorder.Intervals(recs)
}

// checkExclusive fails the test if two nodes' acting intervals overlap or
// if epochs go down in time order: the mutual-exclusion invariant.
func checkExclusive(t *testing.T, ivs []interval) {
	t.Helper()
	if err := recorder.CheckExclusive(ivs); err != nil {
		t.Fatal(err)
	}
}

func describeIntervals(ivs []interval) string { return recorder.Describe(ivs) }
