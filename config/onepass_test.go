package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckOnePass: a file with a value that does not decode, a
// missing required key and a semantic mistake gets all three reported
// in one pass, each with FILE:LINE, and the key that did not decode is
// not reported a second time as missing or out of range.
func TestConfigCheckOnePass(t *testing.T) {
	src := strings.NewReplacer(
		"heartbeat: 300ms", "heartbeat: 3 seconds", // decode error, line 24
		"  key: /etc/raftha/n1-key.pem\n", "", // missing tls.key (under tls:, line 6)
		"log_level: info", "log_level: loud", // semantic error
	).Replace(validConfigYAML)
	p := filepath.Join(t.TempDir(), "member.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfigFile(p)
	if err == nil {
		t.Fatal("no error for a file with three mistakes")
	}
	msg := err.Error()
	t.Logf("errors:\n%s", msg)
	for _, want := range []string{
		p + ":23: timing.heartbeat: ",
		p + ":6: tls.key: required",
		p + ":30: log_level: must be trace, debug, info, warn or error, got \"loud\"",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 3 {
		t.Errorf("%d problems reported, want exactly 3 (no echo of the heartbeat that did not decode)", n)
	}
	if strings.Contains(msg, "timing.lease") || strings.Contains(msg, "at least") {
		t.Errorf("the heartbeat that did not decode is judged again by the timing relations")
	}
}
