// Command docgen keeps the documentation's output blocks true: each
// block below a marker is produced by the tool, never typed by hand.
//
//	go run ./internal/tools/docgen [-check] [-bin bin/raftha] [FILE.md ...]
//
// Without files it reads README.md and docs/*.md. The markers:
//
//	<!-- output: raftha timing explain --config deploy/node1.yaml -->
//	<!-- output exit=1: raftha config check bad.yaml -->
//	<!-- output cluster: raftha why web --json -->
//	<!-- output volatile ignore=^T: raftha demo --once -->
//	<!-- output scratch volatile: raftha tls ca create --dir tls -->
//	<!-- include: examples/scenarios/route-table.yaml -->
//	<!-- headings: server/DESIGN.md --> ... <!-- end headings -->
//	<!-- illustrative: a failover on a real EC2, not reproducible here -->
//
// Each of output, include and illustrative is followed by a fenced block.
// A keys marker is followed by a hand-written Markdown table whose first
// column names keys (`fencing.mode`): the tool checks, in both modes, that
// it has one row per key the named definition decodes (KeyTypes) and no
// row for a key that does not exist:
//
//	<!-- keys: member -->
//	<!-- keys: aws.ebs -->
//
// An output block is "$ CMD" and what /bin/sh -c CMD printed (stdout and
// stderr, in order), run in the repository root in UTC, with "raftha" on
// PATH being -bin and no RAFTHA_* variables from the caller. The command
// must exit with status 0, or the one exit=N names. A scratch block runs
// in a scratch directory instead (one per run, removed at the end), for
// commands that write files. A cluster block runs
// against one `raftha demo --dir DIR` the generator starts on loopback
// (first use) and stops at the end, in document order, with the demo's
// RAFTHA_API and certificates set, and DEMO_DIR its directory (configs,
// logs).
//
// Before each cluster block the generator waits until no group of the
// demo is starting, stopping or fencing.
//
// A cluster or volatile block differs from run to run. Its paths, ports,
// tokens, SHA-256 sums and the build version are written masked
// (/tmp/rhdemo, 127.0.0.1:NNNNN, rha_xxxx..., version="VERSION"), and -check compares its shape (see Shape): the set of its
// lines with timestamps, durations, numbers, member names and Raft roles
// taken out, less the lines ignore=REGEX matches. Every other block must
// match byte for byte.
//
// A fenced block with a line starting with "$ " and no marker is refused:
// output shown in the docs is generated, or explicitly illustrative.
//
// With -check nothing is written: each block that differs is reported as
// FILE:LINE with the first differing line, and the exit status is 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Generator produces the content of a block (Runner; tests use fakes).
type Generator interface {
	Generate(doc string, b *Block) ([]string, error)
}

func main() {
	check := flag.Bool("check", false, "report blocks that differ from a fresh run instead of rewriting them")
	bin := flag.String("bin", "bin/raftha", "raftha binary that \"raftha\" in a command runs (relative to -root)")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 {
		files = DefaultFiles(*root)
	}
	r := &Runner{Root: *root, Bin: *bin}
	n, err := Process(r, *root, files, *check, os.Stdout)
	r.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "docgen: %d problem(s): a block that differs from the tool's output is fixed by `make docs`; a reference table that misses a key, by editing it\n", n)
		os.Exit(1)
	}
}

// DefaultFiles is README.md and docs/*.md under root, relative to it.
func DefaultFiles(root string) []string {
	files := []string{"README.md"}
	m, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	sort.Strings(m)
	for _, f := range m {
		rel, _ := filepath.Rel(root, f)
		files = append(files, rel)
	}
	return files
}

// Process regenerates the blocks of files (relative to root). With check
// it writes nothing and reports each differing block to w as FILE:LINE,
// returning how many differ; otherwise it rewrites the files that
// changed (a volatile block only when its shape changed). Errors (a bad marker, a command that fails) stop it.
func Process(g Generator, root string, files []string, check bool, w io.Writer) (int, error) {
	differ, illustrative := 0, 0
	for _, name := range files {
		path := filepath.Join(root, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return differ, err
		}
		d, err := Parse(name, string(data))
		if err != nil {
			return differ, err
		}
		repl := map[*Block][]string{}
		for _, b := range d.Blocks {
			if b.Kind == KindIllustrative {
				illustrative++
				continue
			}
			if b.Kind == KindKeys {
				msgs, err := CheckKeys(d, b)
				if err != nil {
					return differ, fmt.Errorf("%s:%d: %w", name, b.Line, err)
				}
				for _, m := range msgs {
					differ++
					fmt.Fprintf(w, "%s:%s\n", name, m)
				}
				continue
			}
			got, err := g.Generate(name, b)
			if err != nil {
				return differ, fmt.Errorf("%s:%d: %w", name, b.Line, err)
			}
			if b.Volatile && !check {
				// Keep a volatile block whose shape still matches: a
				// rewrite would only change times and numbers, and
				// `make docs` would never leave the tree clean.
				if ok, _, _ := SameShape(d.Content(b), got, b.Ignore); ok {
					continue
				}
			}
			repl[b] = got
			if check {
				if msg := compare(d.Content(b), got, b); msg != "" {
					differ++
					fmt.Fprintf(w, "%s:%s\n", name, msg)
				}
			}
		}
		if check {
			continue
		}
		if out := d.Render(repl); out != string(data) {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				return differ, err
			}
			fmt.Fprintf(w, "docgen: rewrote %s\n", name)
		}
	}
	fmt.Fprintf(w, "docgen: %d file(s), %d illustrative block(s)\n", len(files), illustrative)
	return differ, nil
}

// compare returns "" when a block is up to date, else "LINE: what differs"
// with LINE the 1-based line of the file where it differs.
func compare(have, want []string, b *Block) string {
	what := fmt.Sprintf("%s block %q", b.Kind, b.Arg)
	if b.Volatile {
		if ok, onlyOld, onlyNew := SameShape(have, want, b.Ignore); !ok {
			return fmt.Sprintf("%d: %s (volatile: compared by shape) differs from a fresh run:\n  only in the docs:  %q\n  only in the run:   %q",
				b.Start+1, what, onlyOld, onlyNew)
		}
		return ""
	}
	for i := 0; i < len(have) || i < len(want); i++ {
		var h, g string
		if i < len(have) {
			h = have[i]
		}
		if i < len(want) {
			g = want[i]
		}
		if i >= len(have) || i >= len(want) || h != g {
			return fmt.Sprintf("%d: %s differs from a fresh run:\n  docs: %s\n  run:  %s",
				b.Start+i+1, what, show(h, i < len(have)), show(g, i < len(want)))
		}
	}
	return ""
}

func show(s string, present bool) string {
	if !present {
		return "(no line)"
	}
	return strings.TrimRight(s, " ")
}
