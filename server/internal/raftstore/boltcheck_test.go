package raftstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftha/raftha/server/internal/raftstore/raftstoretest"
)

// A missing raft.db is a new store; a whole one passes the meta check;
// every truncation (and zeroed data pages behind valid meta pages) makes
// Open return ErrDamaged naming the file and the hint, without a fault.
func TestOpenRefusesTruncatedStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raft.db")
	if err := checkBoltFile(path); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	raftstoretest.WriteLegacy(t, path, 1, 300)
	if err := checkBoltFile(path); err != nil {
		t.Fatalf("whole file: %v", err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zeroed := append([]byte(nil), full...)
	clear(zeroed[2*4096:])
	cases := map[string][]byte{"zeroed pages": zeroed}
	for _, size := range []int{0, 100, 5000, 64 << 10, 300 << 10} {
		cases[fmt.Sprintf("truncated to %d bytes", size)] = full[:size]
	}
	for name, b := range cases {
		p := filepath.Join(dir, "damaged.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		store, _, _, err := Open(p, "the hint")
		if err == nil {
			_ = store.Close()
			t.Fatalf("%s: Open succeeded", name)
		}
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "the hint") {
			t.Fatalf("%s: %v, want ErrDamaged naming %s and the hint", name, err, p)
		}
	}
}
