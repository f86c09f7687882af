package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Errors of the runner.
var (
	ErrExit        = errors.New("command exited with an unexpected status")
	ErrDemo        = errors.New("demo cluster did not come up")
	ErrOutsideRepo = errors.New("path is outside the repository")
)

// cmdTimeout bounds every command; demoTimeout the demo cluster's start.
const (
	cmdTimeout  = 60 * time.Second
	demoTimeout = 60 * time.Second
)

// Runner produces the content of blocks.
type Runner struct {
	// Root is the repository root: commands run there, paths are relative
	// to it.
	Root string
	// Bin is the raftha binary: "raftha" in a command runs it.
	Bin string

	pathDir string   // holds the raftha symlink, first on PATH
	scratch string   // the scratch blocks' working directory
	demo    *demo    // started by the first cluster block
	env     []string // the demo's RAFTHA_* variables
}

// Close stops the demo cluster and removes what the runner made.
func (r *Runner) Close() {
	if r.demo != nil {
		r.demo.stop()
		r.demo = nil
	}
	for _, d := range []*string{&r.pathDir, &r.scratch} {
		if *d != "" {
			os.RemoveAll(*d)
			*d = ""
		}
	}
}

// Generate returns the content a block must have. doc is the path of
// the Markdown file, relative to Root.
func (r *Runner) Generate(doc string, b *Block) ([]string, error) {
	switch b.Kind {
	case KindOutput:
		return r.output(b)
	case KindInclude:
		data, err := r.read(b.Arg)
		if err != nil {
			return nil, err
		}
		return splitLines(string(data)), nil
	case KindHeadings:
		data, err := r.read(b.Arg)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(filepath.Dir(doc), b.Arg)
		if err != nil {
			return nil, err
		}
		return headings(filepath.ToSlash(rel), string(data)), nil
	}
	return nil, nil
}

func (r *Runner) read(p string) ([]byte, error) {
	if filepath.IsAbs(p) || strings.HasPrefix(filepath.Clean(p), "..") {
		return nil, fmt.Errorf("%w: %s", ErrOutsideRepo, p)
	}
	return os.ReadFile(filepath.Join(r.Root, p))
}

func (r *Runner) output(b *Block) ([]string, error) {
	if err := r.path(); err != nil {
		return nil, err
	}
	env := r.baseEnv()
	if b.Cluster {
		if err := r.startDemo(); err != nil {
			return nil, err
		}
		env = append(env, r.env...)
		if err := r.settle(env); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var err error
	c := exec.CommandContext(ctx, "/bin/sh", "-c", b.Arg)
	c.Dir, c.Env = r.Root, env
	if b.Scratch {
		if r.scratch == "" {
			if r.scratch, err = os.MkdirTemp("", "docgen-scratch-"); err != nil {
				return nil, err
			}
		}
		c.Dir = r.scratch
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err = c.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return nil, err
	}
	if code != b.Exit {
		return nil, fmt.Errorf("%w: %q exited %d, the marker expects %d (say exit=%d if that is right):\n%s",
			ErrExit, b.Arg, code, b.Exit, code, out.String())
	}
	text := out.String()
	if b.Volatile {
		text = r.mask(text)
	}
	lines := []string{"$ " + b.Arg}
	for _, l := range splitLines(text) {
		lines = append(lines, strings.TrimRight(l, " \t"))
	}
	return lines, nil
}

// path makes a directory whose "raftha" is Bin, to put first on PATH.
func (r *Runner) path() error {
	if r.pathDir != "" {
		return nil
	}
	bin, err := filepath.Abs(filepath.Join(r.Root, r.Bin))
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	dir, err := os.MkdirTemp("", "docgen-bin-")
	if err != nil {
		return err
	}
	r.pathDir = dir
	return os.Symlink(bin, filepath.Join(dir, "raftha"))
}

// baseEnv is the caller's environment without RAFTHA_* (an operator's
// own cluster must not leak into the docs), in UTC, in the C locale.
func (r *Runner) baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RAFTHA_") || k == "TZ" || k == "LANG" || strings.HasPrefix(k, "LC_") || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TZ=UTC", "LC_ALL=C", "PATH="+r.pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// transient are the group states a cluster block does not start in: a
// command run while a move is under way would print that moment.
var transient = map[string]bool{"starting": true, "stopping": true, "fencing": true}

// settle waits (bounded by cmdTimeout) until no group of the demo is
// starting, stopping or fencing, so that a block shows the state its
// previous block led to rather than a moment of a move.
func (r *Runner) settle(env []string) error {
	deadline := time.Now().Add(cmdTimeout)
	for {
		c := exec.Command(filepath.Join(r.pathDir, "raftha"), "group", "list", "--json")
		c.Dir, c.Env = r.Root, env
		out, err := c.Output()
		if err == nil && !anyTransient(out) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: groups still moving after %v: %s", ErrDemo, cmdTimeout, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// anyTransient reports whether a JSON document has a "state" in transient.
func anyTransient(doc []byte) bool {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return true
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if s, ok := x.(string); ok && k == "state" && transient[s] {
					return true
				}
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range t {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// demo is a `raftha demo --dir DIR` the cluster blocks talk to.
type demo struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// The demo's "Try it" lines carry the client environment.
var exportRE = regexp.MustCompile(`(RAFTHA_[A-Z_]+)=(\S+)`)

func (r *Runner) startDemo() error {
	if r.demo != nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "raftha-docgen-")
	if err != nil {
		return err
	}
	c := exec.Command(filepath.Join(r.pathDir, "raftha"), "demo", "--dir", dir)
	c.Dir, c.Env = r.Root, r.baseEnv()
	c.Stderr = nil
	out, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return err
	}
	d := &demo{cmd: c, dir: dir, done: make(chan struct{})}
	r.demo = d
	found := make(chan []string, 1)
	go func() {
		defer close(d.done)
		var env []string
		sent := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, "export ") {
				for _, m := range exportRE.FindAllStringSubmatch(l, -1) {
					env = append(env, m[1]+"="+m[2])
				}
			}
			if !sent && strings.HasPrefix(l, "Files:") {
				found <- env
				sent = true
			}
		}
		c.Wait()
	}()
	select {
	case env := <-found:
		r.env = append(env, "DEMO_DIR="+dir)
		return nil
	case <-d.done:
		return fmt.Errorf("%w: it exited (see %s/logs)", ErrDemo, dir)
	case <-time.After(demoTimeout):
		return fmt.Errorf("%w within %v", ErrDemo, demoTimeout)
	}
}

// stop interrupts the demo as Ctrl-C would, kills it if it lingers, and
// removes its directory.
func (d *demo) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	os.RemoveAll(d.dir)
}

// splitLines splits text into lines without the final empty one.
func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// headings lists the "## " headings of a Markdown file as links.
func headings(rel, text string) []string {
	var out []string
	inFence := false
	for _, l := range strings.Split(text, "\n") {
		if isFence(l) {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(l, "## ") {
			continue
		}
		h := strings.TrimSpace(strings.TrimPrefix(l, "## "))
		out = append(out, fmt.Sprintf("- [%s](%s#%s)", h, rel, Anchor(h)))
	}
	return out
}

var anchorDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)

// Anchor is the fragment GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func Anchor(h string) string {
	h = anchorDrop.ReplaceAllString(strings.ToLower(h), "")
	return strings.ReplaceAll(h, " ", "-")
}
