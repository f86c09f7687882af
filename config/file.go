package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	root, errs := yamlstrict.Decode(data, c)
	if len(errs) > 0 {
		// Validation of a half-decoded file would report the same
		// mistakes again as missing or out-of-range settings.
		errs.SortByLine()
		return nil, errs
	}
	if baseDir != "" {
		for _, p := range []*string{&c.DataDir, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key} {
			*p = resolveConfigPath(baseDir, *p)
		}
	}
	c.SetDefaults()
	errs = c.Validate()
	if len(errs) == 0 {
		return c, nil
	}
	fillLines(root, errs)
	errs.SortByLine()
	return nil, errs
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
