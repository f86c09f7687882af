package yamlstrict

import (
	"errors"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestYAMLMessageFormat pins the three message forms of yaml.v3 that
// yamlMessage reads, against the library itself: a syntax error (a plain
// error, no typed position), a *yaml.TypeError entry, and a decoder
// failure without a line. If a yaml.v3 upgrade changes them, this fails
// rather than DecodeStrict silently losing the lines of syntax errors.
func TestYAMLMessageFormat(t *testing.T) {
	var n yaml.Node
	err := yaml.Unmarshal([]byte("a: 1\nb: [1, 2\n"), &n)
	if err == nil {
		t.Fatal("no syntax error")
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		t.Errorf("syntax error is a *yaml.TypeError now (%q): read its position from the type, drop yamlMessage", err)
	}
	if line, msg := yamlMessage(err.Error()); line != 1 || msg != "did not find expected ',' or ']'" {
		t.Errorf("syntax error %q: yamlMessage = %d, %q; want 1, \"did not find expected ',' or ']'\"", err, line, msg)
	}
	if fe := yamlSyntaxError(err); fe.Line != 1 || fe.Msg != "invalid YAML: did not find expected ',' or ']'" {
		t.Errorf("yamlSyntaxError = %+v", fe)
	}

	var s struct {
		X int `yaml:"x"`
	}
	err = yaml.Unmarshal([]byte("\nx: abc\n"), &s)
	if !errors.As(err, &te) || len(te.Errors) != 1 {
		t.Fatalf("type error: %T %q, want a *yaml.TypeError with one entry", err, err)
	}
	if line, msg := yamlMessage(te.Errors[0]); line != 2 || msg != "cannot unmarshal !!str `abc` into int" {
		t.Errorf("type error entry %q: yamlMessage = %d, %q", te.Errors[0], line, msg)
	}

	var m map[string]any
	err = yaml.Unmarshal([]byte("a: &a 1\nb:\n  <<: *a\n"), &m)
	if err == nil {
		t.Fatal("no merge error")
	}
	if line, msg := yamlMessage(err.Error()); line != 0 || msg != "map merge requires map or sequence of maps as the value" {
		t.Errorf("decoder failure %q: yamlMessage = %d, %q", err, line, msg)
	}

	// Text that only looks like a position is kept whole.
	for _, m := range []string{"line x: y", "line 3 no colon", "lines 4: z", "line -1: w"} {
		if line, msg := yamlMessage(m); line != 0 || msg != m {
			t.Errorf("yamlMessage(%q) = %d, %q; want 0 and the text unchanged", m, line, msg)
		}
	}
}
