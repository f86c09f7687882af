package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict"
)

// LoadConfigFile reads, strictly decodes, defaults and validates the member
// configuration at path. The defaults are the `raftha agent` command's
// (SetDefaults: fencing.mode aws-stop, self_fence_action reboot), not the
// library's that New applies to a Config built in Go (see New): an
// embedding service that loads its file with it gets them too, so its
// file should set both. Relative data_dir and tls paths are resolved
// against the file's directory. Every problem is reported, one a line, as
// "FILE:LINE: PATH: MSG" (errors.As recovers the ErrorList). A file past
// the decoder's limits (yamlstrict.MaxInputBytes, MaxNodes, MaxDepth) is
// refused with an error wrapping yamlstrict.ErrTooLarge or ErrTooComplex.
func LoadConfigFile(path string) (*Config, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	c, errs := parseConfig(data, dir)
	if errs != nil {
		return nil, errs.WithFile(path)
	}
	return c, nil
}

// readBounded reads path, but no more than one byte past
// yamlstrict.MaxInputBytes: the decoder refuses a longer file anyway.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, yamlstrict.MaxInputBytes+1))
}

// ParseConfig is LoadConfigFile without a file: it decodes data strictly,
// fills defaults and validates. Relative paths are left as they are. The
// errors carry line numbers but no file name.
func ParseConfig(data []byte) (*Config, yamlstrict.ErrorList) {
	return parseConfig(data, "")
}

// parseConfig does the work of ParseConfig, resolving relative paths
// against baseDir when it is not empty.
func parseConfig(data []byte, baseDir string) (*Config, yamlstrict.ErrorList) {
	c := &Config{}
	root, decodeErrs := yamlstrict.Decode(data, c)
	if root == nil || hasLimitError(decodeErrs) {
		// Nothing (or not all) of the file was read: there is nothing to
		// validate.
		decodeErrs.SortByLine()
		return nil, decodeErrs
	}
	if baseDir != "" {
		for _, p := range []*string{&c.DataDir, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key} {
			*p = resolveConfigPath(baseDir, *p)
		}
	}
	c.SetDefaults()
	// Validate what did decode too, so that one pass reports every
	// problem; a setting that did not decode is left out of it (it would
	// come back as missing or out of range).
	errs := append(decodeErrs, withoutUndecoded(c.Validate(), decodeErrs)...)
	if len(errs) == 0 {
		return c, nil
	}
	fillLines(root, errs)
	errs.SortByLine()
	return nil, errs
}

// hasLimitError reports whether errs holds a decoder limit (the document
// was too large or too complex, or decoding was cancelled).
func hasLimitError(errs yamlstrict.ErrorList) bool {
	for _, e := range errs {
		if e.Err != nil {
			return true
		}
	}
	return false
}

// settingInputs are, for the settings a Validate check names, the other
// settings the check reads: when one of those did not decode, the check
// judged a default or a zero value and its verdict is left out.
var settingInputs = map[string][]string{
	"timing.heartbeat":         {"timing.lease", "timing.failover_timeout", "fencing.mode"},
	"timing.lease":             {"timing.heartbeat", "timing.failover_timeout"},
	"timing.failover_timeout":  {"timing.heartbeat", "timing.lease", "fencing.mode"},
	"aws.instance_id":          {"fencing.mode", "role"},
	"advertise":                {"bind"},
	"members":                  {"node_id", "role", "bind", "advertise"},
	"fencing.watchdog":         {"fencing.mode", "timing", "fencing"},
	"fencing.watchdog_timeout": {"fencing.watchdog", "timing", "fencing"},
}

// withoutUndecoded is the problems of vals that are not about a setting
// in decodeErrs: the same setting, one inside it or around it, or one its
// check reads (settingInputs).
func withoutUndecoded(vals, decodeErrs yamlstrict.ErrorList) yamlstrict.ErrorList {
	if len(decodeErrs) == 0 {
		return vals
	}
	var out yamlstrict.ErrorList
	for _, v := range vals {
		keep := true
		for _, d := range decodeErrs {
			if d.Path == "" || samePathTree(v.Path, d.Path) || readsSetting(v.Path, d.Path) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, v)
		}
	}
	return out
}

// samePathTree reports whether a and b are the same setting or one is
// inside the other ("tls" and "tls.key", "members" and "members[1].id").
func samePathTree(a, b string) bool {
	inside := func(x, y string) bool {
		return strings.HasPrefix(x, y) && (len(x) == len(y) || x[len(y)] == '.' || x[len(y)] == '[')
	}
	return inside(a, b) || inside(b, a)
}

// readsSetting reports whether the check that names path reads the
// setting input (settingInputs; members[N]... counts as members).
func readsSetting(path, input string) bool {
	if i := strings.IndexAny(path, "[."); i > 0 && strings.HasPrefix(path, "members") {
		path = path[:i]
	}
	for _, in := range settingInputs[path] {
		if samePathTree(in, input) {
			return true
		}
	}
	return false
}

// resolveConfigPath joins a relative p to dir; empty and absolute paths are
// returned unchanged.
func resolveConfigPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// fillLines sets the Line of each error that has none from its Path.
func fillLines(root *yaml.Node, errs yamlstrict.ErrorList) {
	for _, e := range errs {
		if e.Line == 0 && e.Path != "" {
			e.Line = yamlstrict.LineOf(root, e.Path)
		}
	}
}
