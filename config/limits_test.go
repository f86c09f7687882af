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
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
)

// mergeBombConfig is validConfigYAML whose timing section merges a chain
// of anchors that expands to 9^8 mappings.
func mergeBombConfig() string {
	// Anchors come before their aliases.
	return "x:\n" + yamlstricttest.MergeChain("t", "  ", "{heartbeat: 1s}", 9, 8) +
		strings.Replace(validConfigYAML, "timing:", "timing:\n  <<: "+yamlstricttest.MergeRefs("t", 7, 9), 1)
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
	err := yamlstricttest.Within(t, 5*time.Second, "LoadConfigFile", func() error {
		_, err := LoadConfigFile(path)
		return err
	})
	if !errors.Is(err, yamlstrict.ErrTooComplex) || !strings.Contains(err.Error(), path+":") {
		t.Fatalf("got %v, want ErrTooComplex naming %s:LINE", err, path)
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
