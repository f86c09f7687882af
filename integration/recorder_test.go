package integration

import (
	"os"
	"testing"

	"github.com/raftha/raftha/internal/testsupport/recorder"
)

// TestMain lets the test binary act as a recorder process (see package
// internal/testsupport/recorder): the group's exec resource runs it, so
// its file shows exactly when each node was acting, by the one clock of
// this machine.
//
// With RAFTHA_FI_APP set it is the fault suite's application instead, and
// with RAFTHA_FI_SIDECAR the ctl resource's sidecar.
//
// Otherwise it runs the tests, with one raftha binary built for the run.
func TestMain(m *testing.M) {
	if path := os.Getenv(recorder.Env); path != "" {
		recorder.Run(path)
		return
	}
	if os.Getenv("RAFTHA_FI_SIDECAR") != "" {
		runFaultSidecar() // the ctl resource's sidecar (netns_resfaults_test.go)
		return
	}
	if os.Getenv("RAFTHA_FI_APP") != "" {
		runFaultApp() // the fault suite's application (netns_app_test.go)
		return
	}
	code := m.Run()
	writeFaultReport() // the fault suite's table, when it ran
	cleanupBuild()
	os.Exit(code)
}

// interval is one node's acting period at one epoch, as recorded.
type interval = recorder.Interval

// The shared recorder helpers under the names these tests use.
var (
	readIntervals     = recorder.ReadIntervals
	checkExclusive    = recorder.RequireExclusive
	describeIntervals = recorder.Describe
	describeLife      = recorder.DescribeLife
)

// recorderGroup is a group whose resource is the recorder, started by
// raftha as a supervised run command. nodes is the preference order.
func recorderGroup(t testing.TB, file string, nodes ...string) string {
	t.Helper()
	return recorder.Group(t, file, "", nodes...)
}

// readRecords parses a recorder file, skipping torn lines, in file order.
func readRecords(t testing.TB, file string) []recorder.Record {
	t.Helper()
	recs, err := recorder.ReadRecords(file)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// readLife reads the recorders' life lines of file.
func readLife(t testing.TB, file string) []recorder.Life {
	t.Helper()
	life, err := recorder.ReadLife(file)
	if err != nil {
		t.Fatal(err)
	}
	return life
}
