package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/integration/recorder"
)

// TestMain lets the test binary act as a recorder process: when
// RAFTHA_TEST_RECORDER names a file, it appends "node epoch unixnano"
// every 5ms until SIGTERM (or until killed). The group's exec resource
// runs it, so the file shows exactly when each node was acting, by the one
// clock of this machine. It also notes its own life in FILE.life
// ("start|term PID NODE EPOCH UNIXNANO"), so a test can tell a recorder
// that raftha stopped (SIGTERM) from one that was killed with its host.
//
// With RAFTHA_FI_APP set it is the fault suite's application instead.
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

// recorderGroup is a group whose resource is the recorder, started by
// raftha as a supervised run command. nodes is the preference order.
func recorderGroup(t testing.TB, file string, nodes ...string) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [%s]
    resources:
      - name: app
        type: exec
        run: %q
        timeout: 5s
        env:
          RAFTHA_TEST_RECORDER: %s
`, strings.Join(nodes, ", "), "exec '"+self+"'", file)
}

// interval is one node's acting period at one epoch, as recorded.
type interval = recorder.Interval

// record is one line of a recorder file.
type record = recorder.Record

// readRecords parses a recorder file, skipping torn lines, in file order.
func readRecords(t testing.TB, file string) []record {
	t.Helper()
	recs, err := recorder.ReadRecords(file)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// readIntervals parses a recorder file into per-(node, epoch) intervals
// sorted by start time.
func readIntervals(t testing.TB, file string) []interval {
	t.Helper()
	return recorder.Intervals(readRecords(t, file))
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

// lifeEvent is one line of a recorder's FILE.life.
type lifeEvent struct {
	what  string // start or term
	pid   int
	node  string
	epoch uint64
	at    time.Time
}

func readLife(t testing.TB, file string) []lifeEvent {
	t.Helper()
	data, err := os.ReadFile(file + ".life")
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []lifeEvent
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.Fields(line)
		if len(p) != 5 {
			continue
		}
		pid, err1 := strconv.Atoi(p[1])
		ep, err2 := strconv.ParseUint(p[3], 10, 64)
		ns, err3 := strconv.ParseInt(p[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, lifeEvent{what: p[0], pid: pid, node: p[2], epoch: ep, at: time.Unix(0, ns)})
	}
	return out
}

func describeLife(evs []lifeEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s pid=%d %s@%d %s; ", e.what, e.pid, e.node, e.epoch, e.at.Format("15:04:05.000"))
	}
	return b.String()
}
