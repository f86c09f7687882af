package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	if path := os.Getenv("RAFTHA_TEST_RECORDER"); path != "" {
		runRecorder(path)
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

func runRecorder(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	node, epoch := os.Getenv("RAFTHA_NODE"), os.Getenv("RAFTHA_EPOCH")
	life := func(what string) {
		lf, err := os.OpenFile(path+".life", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		fmt.Fprintf(lf, "%s %d %s %s %d\n", what, os.Getpid(), node, epoch, time.Now().UnixNano())
		lf.Close()
	}
	life("start")
	t := time.NewTicker(5 * time.Millisecond)
	for {
		fmt.Fprintf(f, "%s %s %d\n", node, epoch, time.Now().UnixNano())
		select {
		case <-sig:
			f.Close()
			life("term")
			os.Exit(0)
		case <-t.C:
		}
	}
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
type interval struct {
	node        string
	epoch       uint64
	first, last time.Time
	n           int
}

// record is one line of a recorder file.
type record struct {
	node  string
	epoch uint64
	at    time.Time
}

// readRecords parses a recorder file, skipping torn lines, in file order.
func readRecords(t testing.TB, file string) []record {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 3 {
			continue // a torn last line of a killed recorder
		}
		ep, err1 := strconv.ParseUint(parts[1], 10, 64)
		ns, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, record{node: parts[0], epoch: ep, at: time.Unix(0, ns)})
	}
	return out
}

// readIntervals parses a recorder file into per-(node, epoch) intervals
// sorted by start time.
func readIntervals(t testing.TB, file string) []interval {
	t.Helper()
	byKey := map[string]*interval{}
	for _, r := range readRecords(t, file) {
		key := r.node + "/" + strconv.FormatUint(r.epoch, 10)
		iv, ok := byKey[key]
		if !ok {
			iv = &interval{node: r.node, epoch: r.epoch, first: r.at, last: r.at}
			byKey[key] = iv
		}
		if r.at.Before(iv.first) {
			iv.first = r.at
		}
		if r.at.After(iv.last) {
			iv.last = r.at
		}
		iv.n++
	}
	var out []interval
	for _, iv := range byKey {
		out = append(out, *iv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	return out
}

// checkExclusive fails the test if two nodes' acting intervals overlap or
// if epochs go down in time order: the mutual-exclusion invariant.
func checkExclusive(t *testing.T, ivs []interval) {
	t.Helper()
	for i := range ivs {
		for j := i + 1; j < len(ivs); j++ {
			a, b := ivs[i], ivs[j]
			if a.node != b.node && !b.first.After(a.last) {
				t.Fatalf("overlap: %s@%d active %s..%s and %s@%d from %s", a.node, a.epoch, a.first.Format("15:04:05.000"), a.last.Format("15:04:05.000"), b.node, b.epoch, b.first.Format("15:04:05.000"))
			}
		}
		if i > 0 && ivs[i].epoch < ivs[i-1].epoch {
			t.Fatalf("epoch went down: %s@%d after %s@%d", ivs[i].node, ivs[i].epoch, ivs[i-1].node, ivs[i-1].epoch)
		}
	}
}

func describeIntervals(ivs []interval) string {
	var b strings.Builder
	for _, iv := range ivs {
		fmt.Fprintf(&b, "%s@%d %s..%s (%d) ", iv.node, iv.epoch, iv.first.Format("15:04:05.000"), iv.last.Format("15:04:05.000"), iv.n)
	}
	return b.String()
}

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
