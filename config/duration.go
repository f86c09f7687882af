package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict"
)

// Duration is a time.Duration that reads and writes Go duration strings
// ("500ms", "3s") in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// parseConfigDuration reads a Go duration string, refusing bare numbers (which
// have no unit) and negative durations.
func parseConfigDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil || s == "" {
		return 0, fmt.Errorf("expected a duration like 500ms or 3s, got %q", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("expected a duration like 500ms or 3s, got %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %q", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads a Go duration string such as "500ms" or "3s". Bare
// numbers are refused: they have no unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration like 500ms or 3s, got %s", yamlstrict.DescribeNode(n))
	}
	v, err := parseConfigDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes d as a JSON string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string holding a Go duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration string like \"500ms\" or \"3s\", got %s", b)
	}
	v, err := parseConfigDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
