package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind is what a marker asks the generator to put below it.
type Kind string

// The marker kinds.
const (
	// KindOutput: run a command, write "$ CMD" and its output.
	KindOutput Kind = "output"
	// KindInclude: copy a file of the repository.
	KindInclude Kind = "include"
	// KindHeadings: a list of links to a Markdown file's "##" headings.
	KindHeadings Kind = "headings"
	// KindIllustrative: a block written by hand on purpose (a log from a
	// real EC2, say); the generator leaves it alone. Its reason is required.
	KindIllustrative Kind = "illustrative"
	// KindKeys: the Markdown table below must have one row per key of a
	// definition (see KeyTypes); written by hand, checked by the tool.
	KindKeys Kind = "keys"
)

// headingsEnd closes a headings list (a list is not fenced).
const headingsEnd = "<!-- end headings -->"

// Errors of the parser. Each is wrapped with the file and line.
var (
	ErrNoFence       = errors.New("a marker must be followed by a fenced block (```)")
	ErrUnclosed      = errors.New("fenced block is never closed")
	ErrBadOption     = errors.New("unknown marker option")
	ErrUnmarked      = errors.New("a block that shows command output (a line starting with \"$ \") must be generated: put <!-- output: CMD --> above it, or <!-- illustrative: WHY --> if it cannot be")
	ErrNoArgument    = errors.New("marker needs an argument after the colon")
	ErrNoHeadingsEnd = errors.New("headings list is never closed with " + headingsEnd)
)

var markerRE = regexp.MustCompile(`^<!--\s*(output|include|headings|illustrative|keys)\b([^:]*):\s*(.*?)\s*-->\s*$`)

// Block is one generated (or illustrative) region of a Markdown file.
type Block struct {
	Kind Kind
	// Arg is the command (output), the path (include, headings) or the
	// reason (illustrative).
	Arg string
	// Line is the 1-based line of the marker.
	Line int
	// Exit is the exit status the command must end with (output).
	Exit int
	// Cluster: run the command against the generator's demo cluster.
	Cluster bool
	// Volatile: the output differs from run to run (times, ports, which
	// member leads); the check compares its shape (see shape.go).
	Volatile bool
	// Scratch: run the command in a scratch directory (one per run,
	// shared by the blocks that ask for it, in document order) instead of
	// the repository root, for commands that write files.
	Scratch bool
	// Ignore drops lines whose shape matches it from the shape comparison.
	Ignore *regexp.Regexp
	// Start and End are the 0-based line indexes of the generated content:
	// lines[Start:End] is replaced.
	Start, End int
}

// Doc is a parsed Markdown file.
type Doc struct {
	Name   string
	Lines  []string
	Blocks []*Block
}

func isFence(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "```") }

// Parse finds the markers of a Markdown file, and refuses a fenced block
// that shows command output without one.
func Parse(name, text string) (*Doc, error) {
	d := &Doc{Name: name, Lines: strings.Split(text, "\n")}
	lines := d.Lines
	for i := 0; i < len(lines); i++ {
		m := markerRE.FindStringSubmatch(lines[i])
		if m == nil {
			if isFence(lines[i]) {
				end, err := closeFence(lines, i)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
				}
				if showsOutput(lines[i+1 : end]) {
					return nil, fmt.Errorf("%s:%d: %w", name, i+1, ErrUnmarked)
				}
				i = end
			}
			continue
		}
		b := &Block{Kind: Kind(m[1]), Arg: m[3], Line: i + 1}
		if b.Arg == "" {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, ErrNoArgument)
		}
		if err := b.options(m[2]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		if b.Kind == KindKeys {
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
				j++
			}
			k := j
			for k < len(lines) && strings.HasPrefix(lines[k], "|") {
				k++
			}
			b.Start, b.End = j, k
			d.Blocks = append(d.Blocks, b)
			i = k - 1
			continue
		}
		if b.Kind == KindHeadings {
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != headingsEnd {
				j++
			}
			if j == len(lines) {
				return nil, fmt.Errorf("%s:%d: %w", name, i+1, ErrNoHeadingsEnd)
			}
			b.Start, b.End = i+1, j
			d.Blocks = append(d.Blocks, b)
			i = j
			continue
		}
		if i+1 >= len(lines) || !isFence(lines[i+1]) {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, ErrNoFence)
		}
		end, err := closeFence(lines, i+1)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+2, err)
		}
		b.Start, b.End = i+2, end
		d.Blocks = append(d.Blocks, b)
		i = end
	}
	return d, nil
}

// options reads "exit=N cluster volatile scratch ignore=REGEX" (before
// the colon).
func (b *Block) options(s string) error {
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch {
		case b.Kind == KindOutput && k == "exit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrBadOption, f)
			}
			b.Exit = n
		case b.Kind == KindOutput && k == "cluster" && v == "":
			b.Cluster, b.Volatile = true, true
		case b.Kind == KindOutput && k == "volatile" && v == "":
			b.Volatile = true
		case b.Kind == KindOutput && k == "scratch" && v == "":
			b.Scratch = true
		case b.Kind == KindOutput && k == "ignore":
			re, err := regexp.Compile(v)
			if err != nil {
				return fmt.Errorf("%w: %q: %v", ErrBadOption, f, err)
			}
			b.Ignore = re
		default:
			return fmt.Errorf("%w: %q", ErrBadOption, f)
		}
	}
	return nil
}

// closeFence returns the index of the fence that closes the one at open.
func closeFence(lines []string, open int) (int, error) {
	for j := open + 1; j < len(lines); j++ {
		if strings.TrimSpace(lines[j]) == "```" {
			return j, nil
		}
	}
	return 0, ErrUnclosed
}

// showsOutput: a block with a shell prompt line shows what a command
// printed, and such a block must be generated.
func showsOutput(body []string) bool {
	for _, l := range body {
		if strings.HasPrefix(l, "$ ") {
			return true
		}
	}
	return false
}

// Content is the current text of a block.
func (d *Doc) Content(b *Block) []string { return d.Lines[b.Start:b.End] }

// Render returns the file with each block's content replaced by repl[b]
// (blocks missing from repl are kept).
func (d *Doc) Render(repl map[*Block][]string) string {
	var out []string
	prev := 0
	for _, b := range d.Blocks {
		out = append(out, d.Lines[prev:b.Start]...)
		if r, ok := repl[b]; ok {
			out = append(out, r...)
		} else {
			out = append(out, d.Content(b)...)
		}
		prev = b.End
	}
	out = append(out, d.Lines[prev:]...)
	return strings.Join(out, "\n")
}
