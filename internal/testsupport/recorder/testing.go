package recorder

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Group returns a groups file with one group, db, whose only resource is
// the recorder: the test binary re-executed as a supervised exec resource,
// writing to file. nodes is the preference order; extra is YAML inserted
// in the group before its resources (indented by four spaces), or "".
func Group(tb testing.TB, file, extra string, nodes ...string) string {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
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
          %s: %s
`, strings.Join(nodes, ", "), extra, "exec '"+self+"'", Env, file)
}

// ReadIntervals parses a recorder file into per-(node, epoch) intervals
// sorted by start time, failing the test when the file cannot be read.
func ReadIntervals(tb testing.TB, file string) []Interval {
	tb.Helper()
	recs, err := ReadRecords(file)
	if err != nil {
		tb.Fatal(err)
	}
	return Intervals(recs)
}

// RequireExclusive fails the test if two nodes' acting intervals overlap
// or if epochs go down in time order: the mutual-exclusion invariant.
func RequireExclusive(tb testing.TB, ivs []Interval) {
	tb.Helper()
	if err := CheckExclusive(ivs); err != nil {
		tb.Fatal(err)
	}
}

// Life is one line of a recorder's FILE.life.
type Life struct {
	// What is "start" or "term" (stopped by SIGTERM).
	What string
	// PID is the recorder process; Node and Epoch what it recorded.
	PID   int
	Node  string
	Epoch uint64
	At    time.Time
}

// ReadLife parses file.life (written by Run), skipping torn lines. A
// missing file has no lines.
func ReadLife(file string) ([]Life, error) {
	data, err := os.ReadFile(file + ".life")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Life
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
		out = append(out, Life{What: p[0], PID: pid, Node: p[2], Epoch: ep, At: time.Unix(0, ns)})
	}
	return out, nil
}

// DescribeLife formats life lines for a test log.
func DescribeLife(evs []Life) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s pid=%d %s@%d %s; ", e.What, e.PID, e.Node, e.Epoch, e.At.Format("15:04:05.000"))
	}
	return b.String()
}
