package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
)

// mergeBombConfig is validConfigYAML whose timing section merges a chain
// of anchors that expands to 9^8 mappings.
func mergeBombConfig() string {
	var b strings.Builder
	ref := func(i int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*t%d, ", i), 9), ", ") + "]"
	}
	b.WriteString("x:\n  t0: &t0 {heartbeat: 1s}\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&b, "  t%d: &t%d\n    <<: %s\n", i, i, ref(i-1))
	}
	// Anchors come before their aliases.
	b.WriteString(strings.Replace(validConfigYAML, "timing:", "timing:\n  <<: "+ref(7), 1))
	return b.String()
}

// TestLoadConfigFileMergeBomb: a member file whose timing section merges
// a chain of anchors (<<: [*a, *a, ...] nested) is refused at once with
// ErrTooComplex and FILE:LINE, instead of hanging `raftha config check`
// and agent start (issue 12).
func TestLoadConfigFileMergeBomb(t *testing.T) {
	src := mergeBombConfig()
	path := filepath.Join(t.TempDir(), "raftha.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadConfigFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, yamlstrict.ErrTooComplex) || !strings.Contains(err.Error(), path+":") {
			t.Fatalf("got %v, want ErrTooComplex naming %s:LINE", err, path)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadConfigFile still running after 5s")
	}
}

// TestLoadConfigFileTooLarge: a file past yamlstrict.MaxInputBytes is
// refused naming the limit, without reading it all.
func TestLoadConfigFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raftha.yaml")
	if err := os.WriteFile(path, []byte("# "+strings.Repeat("x", yamlstrict.MaxInputBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfigFile(path)
	if !errors.Is(err, yamlstrict.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(yamlstrict.MaxInputBytes)) {
		t.Fatalf("got %v, want ErrTooLarge naming the limit", err)
	}
}
