package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

func debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "support tools",
		Subcommands: []*cli.Command{{
			Name:      "bundle",
			Usage:     "write one archive with what a support engineer asks for first",
			ArgsUsage: " ",
			Description: `Collects, through the API of the member --api names, into one .tar.gz:
the cluster status, members, settings, every group with its why history and
events, that member's health, Prometheus metrics and goroutine stacks (the
stacks need the operate role), and, when given, a member configuration file
with its secrets replaced by <redacted> and the tail of an agent log file.
Anything that cannot be collected is listed in errors.txt in the archive
instead of failing the bundle, so it also works on a cluster without a
leader. Each call is bounded by --timeout.

   raftha debug bundle --out /tmp/raftha-debug.tar.gz \
       --config /etc/raftha/raftha.yaml --log /var/log/raftha.log`,
			Flags: append(clientFlags(),
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "archive `FILE` to write (default raftha-debug-TIME.tar.gz here)"},
				&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "member configuration `FILE` to include, secrets redacted"},
				&cli.StringFlag{Name: "log", Usage: "agent log `FILE` whose last --log-lines lines to include"},
				&cli.IntFlag{Name: "log-lines", Value: 5000, Usage: "how many of the log's last lines to include"},
				&cli.DurationFlag{Name: "timeout", Value: 15 * time.Second, Usage: "bound on each API call"},
			),
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return usagef("debug bundle takes no arguments, got %q", c.Args().Slice())
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				out := c.String("out")
				if out == "" {
					out = fmt.Sprintf("raftha-debug-%s.tar.gz", time.Now().UTC().Format("20060102T150405Z"))
				}
				b := &bundle{timeout: c.Duration("timeout")}
				b.collect(c.Context, cl)
				if f := c.String("config"); f != "" {
					b.file("config-redacted.yaml", f, redactConfig)
				}
				if f := c.String("log"); f != "" {
					n := c.Int("log-lines")
					b.file("agent.log", f, func(data []byte) []byte { return tailLines(data, n) })
				}
				if err := b.write(out); err != nil {
					return err
				}
				return emit(c, filesResult{Files: []string{out}, Errors: b.errs}, func(w io.Writer) {
					if len(b.errs) > 0 {
						fmt.Fprintf(w, "wrote %s: %d files; %d item(s) could not be collected, listed in errors.txt\n", out, len(b.files), len(b.errs))
					} else {
						fmt.Fprintf(w, "wrote %s: %d files\n", out, len(b.files))
					}
				})
			},
		}},
	}
}

// bundle is the archive being built: file name → content, and what failed.
type bundle struct {
	timeout time.Duration
	names   []string
	files   map[string][]byte
	errs    []string
}

func (b *bundle) add(name string, data []byte) {
	if b.files == nil {
		b.files = map[string][]byte{}
	}
	if _, ok := b.files[name]; !ok {
		b.names = append(b.names, name)
	}
	b.files[name] = data
}

func (b *bundle) fail(what string, err error) {
	b.errs = append(b.errs, fmt.Sprintf("%s: %v", what, err))
}

// json collects what fn returns as indented JSON under name.
func (b *bundle) json(ctx context.Context, name string, fn func(ctx context.Context) (any, error)) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	v, err := fn(cctx)
	if err != nil {
		b.fail(name, err)
		return
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.fail(name, err)
		return
	}
	b.add(name, append(data, '\n'))
}

// raw collects GET path under name.
func (b *bundle) raw(ctx context.Context, cl *api.Client, name, path string) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	data, err := cl.Raw(cctx, path)
	if err != nil {
		b.fail(name, err)
		return
	}
	b.add(name, data)
}

func (b *bundle) collect(ctx context.Context, cl *api.Client) {
	b.add("version.txt", []byte(fmt.Sprintf("raftha CLI %s\ncollected %s from %s\n", api.Version, time.Now().UTC().Format(time.RFC3339), cl.Address())))
	b.json(ctx, "whoami.json", func(ctx context.Context) (any, error) { return cl.WhoAmI(ctx) })
	b.json(ctx, "health.json", func(ctx context.Context) (any, error) { return cl.Health(ctx) })
	b.json(ctx, "status.json", func(ctx context.Context) (any, error) { return cl.Status(ctx) })
	b.json(ctx, "members.json", func(ctx context.Context) (any, error) { return cl.Members(ctx) })
	b.json(ctx, "settings.json", func(ctx context.Context) (any, error) { return cl.Settings(ctx) })
	b.json(ctx, "events.json", func(ctx context.Context) (any, error) { return cl.Events(ctx, "") })
	gctx, cancel := context.WithTimeout(ctx, b.timeout)
	groups, err := cl.Groups(gctx)
	cancel()
	if err != nil {
		b.fail("groups.json", err)
	} else {
		b.json(ctx, "groups.json", func(context.Context) (any, error) { return groups, nil })
		for _, g := range groups {
			name := g.Name
			b.json(ctx, "why/"+safeName(name)+".json", func(ctx context.Context) (any, error) { return cl.Why(ctx, name) })
		}
	}
	b.raw(ctx, cl, "metrics.txt", "/metrics")
	b.raw(ctx, cl, "goroutines.txt", "/v1/debug/pprof/goroutine?debug=2")
}

// file adds a local file, transformed by fn.
func (b *bundle) file(name, path string, fn func([]byte) []byte) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.fail(name, err)
		return
	}
	b.add(name, fn(data))
}

// write writes the archive (under one directory named after it) to out,
// through a temporary file renamed into place.
func (b *bundle) write(out string) error {
	if len(b.errs) > 0 {
		b.add("errors.txt", []byte(strings.Join(b.errs, "\n")+"\n"))
	}
	dir := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(out), ".gz"), ".tar")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	now := time.Now()
	for _, name := range b.names {
		data := b.files[name]
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Mode: 0o600, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// safeName keeps a group name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
}

// secretKey matches YAML keys whose values are secrets or hashes of them.
var secretKey = regexp.MustCompile(`(?i)^(\s*-?\s*)(sha256|token|secret|password|secret_access_key|session_token)(\s*:\s*)\S.*$`)

// hookURL matches a hook's url: a webhook's path and query are often a
// secret themselves (chat and pager webhooks); only the scheme and host
// are kept.
var hookURL = regexp.MustCompile(`(?i)(\burl\s*:\s*["']?)([a-z][a-z0-9+.-]*://[^/?#\s"',}]+)[^\s"',}]*`)

// redactConfig replaces the values of secret keys with <redacted>, and the
// path and query of a hook's url, line by line (flow mappings too:
// {name: x, sha256: ...}).
func redactConfig(data []byte) []byte {
	inline := regexp.MustCompile(`(?i)\b(sha256|token|secret|password)(\s*:\s*)[^,}\s]+`)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if hookURL.MatchString(line) {
			line = hookURL.ReplaceAllString(line, "${1}${2}/<redacted>")
		} else if secretKey.MatchString(line) {
			line = secretKey.ReplaceAllString(line, "${1}${2}${3}<redacted>")
		} else {
			line = inline.ReplaceAllString(line, "${1}${2}<redacted>")
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

// tailLines returns the last n lines of data.
func tailLines(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}
