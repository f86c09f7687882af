package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repo makes a repository with a fake bin/raftha (it echoes its
// arguments and exits with $FAKE_EXIT) and the given files.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files["bin/raftha"] = "#!/bin/sh\necho \"raftha says: $*\"\necho \"to stderr\" >&2\nexit ${FAKE_EXIT:-0}\n"
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func run(t *testing.T, root string, check bool) (int, string, error) {
	t.Helper()
	r := &Runner{Root: root, Bin: "bin/raftha"}
	defer r.Close()
	var out bytes.Buffer
	n, err := Process(r, root, []string{"doc.md"}, check, &out)
	return n, out.String(), err
}

const doc = "# Title\n\nText.\n\n<!-- output: raftha timing explain --config x.yaml -->\n```\nstale\n```\n\n" +
	"<!-- include: ex/group.yaml -->\n```yaml\nold: 1\n```\n\n<!-- illustrative: a real EC2 log -->\n```\n$ hand written\n```\n"

// TestCheckCatchesHandEdit is the demonstration: the check fails
// on a stale or hand-edited block, naming the file and line, and passes
// after the blocks are regenerated.
func TestCheckCatchesHandEdit(t *testing.T) {
	root := repo(t, map[string]string{"doc.md": doc, "ex/group.yaml": "groups:\n  - name: db\n"})

	n, out, err := run(t, root, true)
	if err != nil || n != 2 {
		t.Fatalf("check of stale doc: n=%d err=%v, want 2 differing blocks\n%s", n, err, out)
	}
	if !strings.Contains(out, "doc.md:7: output block") || !strings.Contains(out, "doc.md:12: include block") {
		t.Fatalf("check does not name file:line of each stale block:\n%s", out)
	}

	if n, out, err = run(t, root, false); err != nil || n != 0 {
		t.Fatalf("update: n=%d err=%v\n%s", n, err, out)
	}
	data, _ := os.ReadFile(filepath.Join(root, "doc.md"))
	want := "```\n$ raftha timing explain --config x.yaml\nraftha says: timing explain --config x.yaml\nto stderr\n```"
	if !strings.Contains(string(data), want) || !strings.Contains(string(data), "```yaml\ngroups:\n  - name: db\n```") {
		t.Fatalf("update did not write the output and the include:\n%s", data)
	}
	if !strings.Contains(string(data), "$ hand written") {
		t.Fatalf("update touched the illustrative block:\n%s", data)
	}
	if n, out, err = run(t, root, true); err != nil || n != 0 {
		t.Fatalf("check after update: n=%d err=%v\n%s", n, err, out)
	}

	// Edit one output line by hand.
	edited := strings.Replace(string(data), "raftha says: timing", "raftha says: timings", 1)
	if err := os.WriteFile(filepath.Join(root, "doc.md"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	n, out, err = run(t, root, true)
	if err != nil || n != 1 || !strings.Contains(out, "doc.md:8: output block") ||
		!strings.Contains(out, "docs: raftha says: timings explain") || !strings.Contains(out, "run:  raftha says: timing explain") {
		t.Fatalf("check of a hand edit: n=%d err=%v, want doc.md:8 with both lines\n%s", n, err, out)
	}
	if n, _, err = run(t, root, false); err != nil {
		t.Fatal(err)
	}
	if n, out, err = run(t, root, true); err != nil || n != 0 {
		t.Fatalf("check after make docs: n=%d err=%v\n%s", n, err, out)
	}
}

func TestExitStatusMustBeDeclared(t *testing.T) {
	t.Setenv("FAKE_EXIT", "2")
	root := repo(t, map[string]string{"doc.md": "<!-- output: raftha statsu -->\n```\n```\n"})
	if _, _, err := run(t, root, false); !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), "doc.md:1:") {
		t.Fatalf("undeclared exit 2: err=%v, want ErrExit at doc.md:1", err)
	}
	root = repo(t, map[string]string{"doc.md": "<!-- output exit=2: raftha statsu -->\n```\n```\n"})
	if _, out, err := run(t, root, false); err != nil {
		t.Fatalf("declared exit 2: %v\n%s", err, out)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want error
	}{
		"unmarked output": {"Text\n```\n$ raftha status\nLeader: n1\n```\n", ErrUnmarked},
		"no fence":        {"<!-- output: raftha status -->\ntext\n", ErrNoFence},
		"unclosed":        {"<!-- output: raftha status -->\n```\nx\n", ErrUnclosed},
		"bad option":      {"<!-- output sometimes: raftha status -->\n```\n```\n", ErrBadOption},
		"no reason":       {"<!-- illustrative: -->\n```\n```\n", ErrNoArgument},
		"headings open":   {"<!-- headings: x.md -->\n- a\n", ErrNoHeadingsEnd},
	} {
		if _, err := Parse("d.md", tc.text); !errors.Is(err, tc.want) {
			t.Errorf("%s: err=%v, want %v", name, err, tc.want)
		}
	}
	// A block of commands to type (no "$ ") needs no marker.
	if _, err := Parse("d.md", "```\nmake build\nraftha status\n```\n"); err != nil {
		t.Errorf("input block refused: %v", err)
	}
}

func TestHeadingsLinkTheDesignNotes(t *testing.T) {
	root := repo(t, map[string]string{
		"doc.md":           "<!-- headings: server/DESIGN.md -->\n<!-- end headings -->\n",
		"server/DESIGN.md": "# x\n## Clause 1 — ownership only from the log\n```\n## not a heading\n```\n## Forwarding\n",
	})
	if _, out, err := run(t, root, false); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(root, "doc.md"))
	want := "- [Clause 1 — ownership only from the log](server/DESIGN.md#clause-1--ownership-only-from-the-log)\n- [Forwarding](server/DESIGN.md#forwarding)\n<!-- end headings -->"
	if !strings.Contains(string(data), want) {
		t.Fatalf("headings:\n%s\nwant:\n%s", data, want)
	}
}

// TestShapeIgnoresRunNoiseNotFormat: two demo runs differ in times,
// ports, epochs and who leads, and compare equal; a change of format (a
// duration printed as integer nanoseconds) does not.
func TestShapeIgnoresRunNoiseNotFormat(t *testing.T) {
	a := []string{
		"n1      node     leader    yes      0s            127.0.0.1:38639  -",
		`    "at": "2026-11-29T19:13:48.21Z",`,
		`    "online_after": "75ms",`,
		"2026-11-29 19:13:54.100  n1 -> n2  epoch 26  stop 250ms  online after 1.2s",
	}
	b := []string{
		"n2      node     follower  yes      151ms         127.0.0.1:43165  -",
		`    "at": "2026-11-30T01:02:03Z",`,
		`    "online_after": "1m2.5s",`,
		"2026-11-30 01:00:00.001  n2 -> n1  epoch 9  stop 17ms  online after 88ms",
	}
	if ok, x, y := SameShape(a, b, nil); !ok {
		t.Fatalf("runs differ only in noise, yet: only old %q, only new %q", x, y)
	}
	c := append([]string{}, b...)
	c[2] = `    "online_after": 75000000,`
	if ok, _, y := SameShape(a, c, nil); ok || y != `"online_after": N,` {
		t.Fatalf("nanoseconds instead of a duration string not caught: ok=%v new=%q", ok, y)
	}
}

// TestKeysTableMustMatchDefinition: a reference table that misses a
// setting the parser decodes, or documents one it does not, is reported
// with its line; the real member table passes.
func TestKeysTableMustMatchDefinition(t *testing.T) {
	leaves, containers := Keys(KeyTypes["member"])
	for _, k := range []string{"fencing.mode", "members[].id", "access.tokens[].sha256", "log_format"} {
		if !leaves[k] {
			t.Errorf("member keys lack %q", k)
		}
	}
	if !containers["members"] || leaves["members"] {
		t.Errorf("members should be a container: leaves=%v containers=%v", leaves["members"], containers["members"])
	}

	text := "# x\n\n<!-- keys: go -->\n| key | default |\n|---|---|\n| `handler` | — |\n| `stop_after` | 1s |\n\nafter\n"
	root := repo(t, map[string]string{"doc.md": text})
	n, out, err := run(t, root, true)
	if err != nil || n != 2 ||
		!strings.Contains(out, "doc.md:3: the go table has no row for `stop_timeout`") ||
		!strings.Contains(out, "doc.md:7: the go table has a row for `stop_after`, which gohandler.Params does not define") {
		t.Fatalf("n=%d err=%v\n%s", n, err, out)
	}
	if _, err := Parse("d.md", "<!-- keys: nosuch -->\n| `a` |\n"); err != nil {
		t.Fatal(err)
	}
	root = repo(t, map[string]string{"doc.md": "<!-- keys: nosuch -->\n| `a` |\n"})
	if _, _, err := run(t, root, true); !errors.Is(err, ErrUnknownKeyType) {
		t.Fatalf("unknown definition: err=%v", err)
	}
	// The repository's own member reference.
	data, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("docs/configuration.md", string(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range d.Blocks {
		if b.Kind == KindKeys {
			if msgs, err := CheckKeys(d, b); err != nil || len(msgs) > 0 {
				t.Errorf("docs/configuration.md: %v %v", err, msgs)
			}
		}
	}
}

// TestUpdateKeepsVolatileBlockOfSameShape: make docs leaves a volatile
// block alone when only its numbers changed, so that the tree stays clean,
// and rewrites it when its shape changed.
func TestUpdateKeepsVolatileBlockOfSameShape(t *testing.T) {
	text := "<!-- output volatile: raftha took 12ms -->\n```\n$ raftha took 12ms\nraftha says: took 99ms\nto stderr\n```\n"
	root := repo(t, map[string]string{"doc.md": text})
	if _, out, err := run(t, root, false); err != nil || strings.Contains(out, "rewrote") {
		t.Fatalf("same shape rewritten: err=%v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(root, "doc.md"))
	if string(data) != text {
		t.Fatalf("file changed:\n%s", data)
	}
	changed := strings.Replace(text, "raftha says: took", "raftha said: took", 1)
	if err := os.WriteFile(filepath.Join(root, "doc.md"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, out, _ := run(t, root, true); n != 1 || !strings.Contains(out, `only in the docs:  "raftha said: took D"`) {
		t.Fatalf("check of a changed shape: n=%d\n%s", n, out)
	}
	if _, out, err := run(t, root, false); err != nil || !strings.Contains(out, "rewrote doc.md") {
		t.Fatalf("changed shape not rewritten: err=%v\n%s", err, out)
	}
	data, _ = os.ReadFile(filepath.Join(root, "doc.md"))
	if !strings.Contains(string(data), "raftha says: took 12ms") {
		t.Fatalf("rewrite:\n%s", data)
	}
}
