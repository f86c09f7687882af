package main

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Masks written into the docs for volatile blocks: values that differ on
// every run (or every commit) and mean nothing to a reader. Digits of a
// port become N and hex digits of a token or SHA-256 x, so table columns
// keep their width; the build's version reads VERSION.
var (
	demoDirRE = regexp.MustCompile(`/tmp/raftha-demo-[0-9]+`)
	portRE    = regexp.MustCompile(`127\.0\.0\.1:[0-9]{2,5}`)
	tokenRE   = regexp.MustCompile(`rha_[0-9a-f]{16,}`)
	sha256RE  = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	versionRE = regexp.MustCompile(`\bversion="[^"]*"`)
)

// DemoDir is what the generator's demo directory reads as in the docs,
// and InstalledBin the binary's path (the demo's app runs it).
const (
	DemoDir      = "/tmp/rhdemo"
	InstalledBin = "/usr/local/bin/raftha"
)

func (r *Runner) mask(s string) string {
	if r.demo != nil {
		s = strings.ReplaceAll(s, r.demo.dir, DemoDir)
	}
	if bin, err := filepath.Abs(filepath.Join(r.Root, r.Bin)); err == nil {
		s = strings.ReplaceAll(s, bin, InstalledBin)
	}
	s = demoDirRE.ReplaceAllString(s, "/tmp/raftha-demo-NNNN")
	s = portRE.ReplaceAllStringFunc(s, func(m string) string {
		return "127.0.0.1:" + strings.Repeat("N", len(m)-len("127.0.0.1:"))
	})
	s = tokenRE.ReplaceAllStringFunc(s, func(m string) string {
		return "rha_" + strings.Repeat("x", len(m)-len("rha_"))
	})
	s = sha256RE.ReplaceAllString(s, strings.Repeat("x", 64))
	return versionRE.ReplaceAllString(s, `version="VERSION"`)
}

// The shape of a line keeps its words and drops what varies between runs
// of a volatile block: timestamps (T), durations (D), other numbers (N),
// member names of the demo (M), Raft roles (R), runs of blanks.
var shapeSteps = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z?`), "T"},
	{regexp.MustCompile(`[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?`), "T"},
	{regexp.MustCompile(`\b[nw][0-9]\b`), "M"},
	{regexp.MustCompile(`\b(leader|follower|candidate)\b`), "R"},
	{regexp.MustCompile(`([0-9]+(\.[0-9]+)?(ns|µs|us|ms|h|m|s))+\b`), "D"},
	{regexp.MustCompile(`[0-9N]+`), "N"},
	{regexp.MustCompile(`\s+`), " "},
}

// Shape is the run-independent form of one output line.
func Shape(line string) string {
	for _, s := range shapeSteps {
		line = s.re.ReplaceAllString(line, s.with)
	}
	return strings.TrimSpace(line)
}

// shapes is the sorted set of the shapes of lines, without those ignore
// matches and without blank ones.
func shapes(lines []string, ignore *regexp.Regexp) []string {
	set := map[string]bool{}
	for _, l := range lines {
		s := Shape(l)
		if s == "" || (ignore != nil && ignore.MatchString(s)) {
			continue
		}
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// SameShape reports whether two runs of a volatile block printed the same
// kinds of lines. If not, it returns one line shape only the old run
// (the docs) has, or one only the new run has.
func SameShape(old, new []string, ignore *regexp.Regexp) (ok bool, onlyOld, onlyNew string) {
	a, b := shapes(old, ignore), shapes(new, ignore)
	inB := map[string]bool{}
	for _, s := range b {
		inB[s] = true
	}
	inA := map[string]bool{}
	for _, s := range a {
		inA[s] = true
		if !inB[s] && onlyOld == "" {
			onlyOld = s
		}
	}
	for _, s := range b {
		if !inA[s] && onlyNew == "" {
			onlyNew = s
		}
	}
	return onlyOld == "" && onlyNew == "", onlyOld, onlyNew
}
