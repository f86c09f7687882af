// Package benchtable is the one format in which raftha's benchmarks report
// a figure for the table `make bench` prints at its end: each figure is a
// line "BENCHTABLE|figure|value|goal|command" on standard output, which
// scripts/bench-table collects, in order, into one table.
package benchtable

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Prefix starts every table line.
const Prefix = "BENCHTABLE|"

// Row is one figure of the table.
type Row struct {
	// Figure names what was measured, e.g. "idle CPU n1 (s/min)".
	Figure string
	// Value is the measured figure with its unit.
	Value string
	// Goal is the target the issue sets, or "-" for none.
	Goal string
	// Command reproduces the measurement.
	Command string
}

// Line is r in the table format. A "|" or newline inside a field would
// break the format, so each is replaced by "/" or a space.
func (r Row) Line() string {
	clean := func(s string) string {
		s = strings.ReplaceAll(s, "|", "/")
		s = strings.ReplaceAll(s, "\n", " ")
		if s == "" {
			return "-"
		}
		return s
	}
	return Prefix + strings.Join([]string{clean(r.Figure), clean(r.Value), clean(r.Goal), clean(r.Command)}, "|")
}

// Print writes r as a table line to standard output.
func Print(r Row) { Fprint(os.Stdout, r) }

// Fprint writes r as a table line to w.
func Fprint(w io.Writer, r Row) { fmt.Fprintln(w, r.Line()) }

// Parse reads a table line; ok is false for any other line.
func Parse(line string) (r Row, ok bool) {
	i := strings.Index(line, Prefix)
	if i < 0 {
		return Row{}, false
	}
	f := strings.Split(strings.TrimRight(line[i+len(Prefix):], "\r\n"), "|")
	if len(f) != 4 {
		return Row{}, false
	}
	return Row{Figure: f[0], Value: f[1], Goal: f[2], Command: f[3]}, true
}

// Timing parses a benchmark's timing override, "HEARTBEAT/LEASE/FAILOVER"
// in Go durations (e.g. "1s/3s/4s", timing.heartbeat, timing.lease and
// timing.failover_timeout), as RAFTHA_IDLE_TIMING and RAFTHA_BENCH_TIMING
// take it. The agent's own validation judges the values.
func Timing(s string) (heartbeat, lease, failover time.Duration, err error) {
	f := strings.Split(s, "/")
	if len(f) != 3 {
		return 0, 0, 0, fmt.Errorf("timing %q: want HEARTBEAT/LEASE/FAILOVER_TIMEOUT, e.g. 1s/3s/4s", s)
	}
	var d [3]time.Duration
	for i, v := range f {
		if d[i], err = time.ParseDuration(v); err != nil || d[i] <= 0 {
			return 0, 0, 0, fmt.Errorf("timing %q: %q is not a positive duration such as 300ms or 2s", s, v)
		}
	}
	return d[0], d[1], d[2], nil
}
