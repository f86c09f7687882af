package server

import (
	"os"
	"testing"

	"github.com/raftha/raftha/internal/testsupport/recorder"
)

// TestMain lets the test binary act as a recorder process (package
// internal/testsupport/recorder): exec resources in the failover tests run
// it, so the file shows exactly when each node was acting, by the one
// clock of this machine.
func TestMain(m *testing.M) {
	if path := os.Getenv(recorder.Env); path != "" {
		recorder.Run(path)
		return
	}
	os.Exit(m.Run())
}

// interval is one node's acting period at one epoch, as recorded.
type interval = recorder.Interval

// The shared recorder helpers under the names these tests use:
// recorderGroup(t, file, extra, nodes...) is a group whose resource is the
// recorder; readIntervals parses its file; checkExclusive fails the test
// on overlapping intervals or an epoch going down.
var (
	recorderGroup     = recorder.Group
	readIntervals     = recorder.ReadIntervals
	checkExclusive    = recorder.RequireExclusive
	describeIntervals = recorder.Describe
)
