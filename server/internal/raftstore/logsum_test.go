package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/server/internal/raftstore/raftstoretest"
)

// Entries without a checksum (written by an older build, before an
// upgrade or after a downgrade) still read; new ones carry one; an entry
// whose checksum marker is damaged is refused.
func TestRaftStoreLegacyEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	raftstoretest.WriteLegacy(t, path, 1, 10)
	store, logs, legacy, err := Open(path, "hint")
	if err != nil {
		t.Fatal(err)
	}
	if legacy != 10 {
		t.Fatalf("legacy %d, want 10", legacy)
	}
	var l raft.Log
	if err := logs.GetLog(5, &l); err != nil || l.Index != 5 || len(l.Data) != 700 {
		t.Fatalf("legacy entry: %v %+v", err, l)
	}
	in := &raft.Log{Index: 11, Term: 2, Type: raft.LogCommand, Data: []byte("x"), Extensions: []byte("own")}
	if err := logs.StoreLogs([]*raft.Log{in}); err != nil {
		t.Fatal(err)
	}
	if string(in.Extensions) != "own" {
		t.Fatalf("the caller's entry was changed: %q", in.Extensions)
	}
	if err := logs.GetLog(11, &l); err != nil || string(l.Extensions) != "own" || string(l.Data) != "x" {
		t.Fatalf("summed entry: %v %+v", err, l)
	}
	// A downgraded build writes entry 12 without a checksum.
	if err := store.StoreLog(&raft.Log{Index: 12, Term: 2, Type: raft.LogCommand, Data: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if err := logs.GetLog(12, &l); err != nil || string(l.Data) != "y" {
		t.Fatalf("entry without checksum: %v", err)
	}
	// Entry 13's checksum marker is damaged.
	if err := store.StoreLog(&raft.Log{Index: 13, Term: 2, Type: raft.LogCommand, Data: []byte("z"), Extensions: []byte("RHx1\x00\x00\x00\x00")}); err != nil {
		t.Fatal(err)
	}
	if err := logs.GetLog(13, &l); !errors.Is(err, ErrDamaged) {
		t.Fatalf("entry with a damaged checksum marker: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Open(path, "hint"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("reopen: %v, want ErrDamaged", err)
	}
}

// Damage that appears while the store is open is found on the next read:
// GetLog fails with ErrDamaged and the damage hook (the server's
// failStop) hears of it.
func TestRaftStoreDamageAtRunTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	store, logs, _, err := Open(path, "hint")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var heard []error
	logs.OnDamage = func(err error) { heard = append(heard, err) }
	var in []*raft.Log
	for i := uint64(1); i <= 50; i++ {
		in = append(in, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("payload-%03d", i))})
	}
	if err := logs.StoreLogs(in); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := bytes.Index(raw, []byte("payload-042"))
	if off < 0 || bytes.Count(raw, []byte("payload-042")) != 1 {
		t.Fatal("entry 42 not found once in the file")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// In place, as decay would: bbolt maps the file and sees the change.
	if _, err := f.WriteAt([]byte("7"), int64(off+len("payload-04"))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var l raft.Log
	if err := logs.GetLog(41, &l); err != nil {
		t.Fatalf("entry 41: %v", err)
	}
	if err := logs.GetLog(42, &l); !errors.Is(err, ErrDamaged) || len(heard) != 1 {
		t.Fatalf("entry 42: %v (hook heard %d), want ErrDamaged", err, len(heard))
	}
}
