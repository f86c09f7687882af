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
