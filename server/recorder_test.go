package server

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
// every 5ms until killed. Exec resources in the failover tests run it, so
// the file shows exactly when each node was acting, by the one clock of
// this machine.
func TestMain(m *testing.M) {
	if path := os.Getenv("RAFTHA_TEST_RECORDER"); path != "" {
		runRecorder(path)
		return
	}
	os.Exit(m.Run())
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
	t := time.NewTicker(5 * time.Millisecond)
	for {
		fmt.Fprintf(f, "%s %s %d\n", node, epoch, time.Now().UnixNano())
		select {
		case <-sig:
			f.Close()
			os.Exit(0)
		case <-t.C:
		}
	}
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
type interval struct {
	node        string
	epoch       uint64
	first, last time.Time
	n           int
}

// readIntervals parses a recorder file into per-(node, epoch) intervals
// sorted by start time.
func readIntervals(t testing.TB, file string) []interval {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	byKey := map[string]*interval{}
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
		at := time.Unix(0, ns)
		key := parts[0] + "/" + parts[1]
		iv, ok := byKey[key]
		if !ok {
			iv = &interval{node: parts[0], epoch: ep, first: at, last: at}
			byKey[key] = iv
		}
		if at.Before(iv.first) {
			iv.first = at
		}
		if at.After(iv.last) {
			iv.last = at
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
