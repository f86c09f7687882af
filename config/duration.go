package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
)

// Duration is a time.Duration that reads and writes Go duration strings
// ("500ms", "3s") in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// parseConfigDuration reads a Go duration string, refusing bare numbers
// (which have no unit) and negative durations: the API's rule
// (api.ParseDuration), so a duration reads the same in a file and on the
// wire.
func parseConfigDuration(s string) (Duration, error) {
	v, err := api.ParseDuration(s)
	return Duration(v), err
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

// MarshalJSON writes d as a JSON string such as "1.5s" (as api.Duration).
func (d Duration) MarshalJSON() ([]byte, error) { return api.Duration(d).MarshalJSON() }

// UnmarshalJSON reads a JSON string holding a Go duration (as
// api.Duration).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v api.Duration
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
