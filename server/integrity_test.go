package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/bbolt"

	"github.com/raftha/raftha/server/internal/raftstore/raftstoretest"
)

// editLogValue changes one byte of the log entry in the bbolt file at path
// whose value contains marker: it finds the entry with bbolt (read-only),
// then edits the file in place, as a stray write or a hand edit would. The
// file keeps a valid bbolt structure. Stale copies of the same value in
// freed pages get the same edit; they are never read.
func editLogValue(t *testing.T, path string, marker []byte) uint64 {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var value []byte
	var index uint64
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("logs")).ForEach(func(k, v []byte) error {
			if bytes.Contains(v, marker) {
				value = append([]byte(nil), v...)
				index = raftIndex(k)
			}
			return nil
		})
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		t.Fatalf("no log entry in %s holds %q", path, marker)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(value, marker) + len(marker) - 1
	n := 0
	for off := bytes.Index(raw, value); off >= 0; {
		raw[off+at] ^= 0x20 // one letter's case
		n++
		next := bytes.Index(raw[off+1:], value)
		if next < 0 {
			break
		}
		off += 1 + next
	}
	if n == 0 {
		t.Fatalf("entry %d's value not found in the file", index)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return index
}

func raftIndex(k []byte) uint64 {
	var v uint64
	for _, b := range k {
		v = v<<8 | uint64(b)
	}
	return v
}

// A follower's raft.db edited in place (one byte of the committed group
// file) is refused at start with an error naming the file and the
// recovery, instead of the member coming back with a different state.
func TestRaftStoreEditedEntryRefused(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	c.startAll()
	l := c.leader()
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	var victim *testMember
	for _, m := range c.members {
		if m != l {
			victim = m
			break
		}
	}
	waitFor(t, 10*time.Second, "the group on "+victim.cfg.NodeID, func() bool {
		_, ok := victim.srv.State().Groups["db"]
		return ok
	})
	want := string(l.srv.State().Groups["db"].Spec.Resources[0].Params)
	id := victim.cfg.NodeID
	c.kill(id)

	path := filepath.Join(victim.cfg.DataDir, "raft", "raft.db")
	idx := editLogValue(t, path, []byte("running.$RAFTHA_NODE"))
	t.Logf("edited entry %d of %s", idx, path)

	srv, err := New(victim.cfg, Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start()
	if err == nil {
		victim.srv = srv
		var got string
		waitFor(t, 10*time.Second, "the restarted member to apply the group", func() bool {
			g, ok := srv.State().Groups["db"]
			if ok {
				got = string(g.Spec.Resources[0].Params)
			}
			return ok
		})
		t.Fatalf("%s started on an edited raft.db; its group db now reads\n%s\nwhere the leader has\n%s", id, got, want)
	}
	if !errors.Is(err, ErrRaftStoreDamaged) {
		t.Fatalf("start: %v, want ErrRaftStoreDamaged", err)
	}
	for _, s := range []string{path, "--rejoin", "members remove " + id} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q: %v", s, err)
		}
	}
	t.Logf("start refused: %v", err)
	// The rest of the cluster goes on without it.
	c.leader()
}

// A truncated raft.db makes Start return an error naming the file; it
// neither panics nor faults (a SIGBUS would kill this test binary).
func TestRaftStoreTruncatedRefused(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	m := c.member("n1")
	path := filepath.Join(m.cfg.DataDir, "raft", "raft.db")
	raftstoretest.WriteLegacy(t, path, 1, 300)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 100, 5000, 64 << 10, 300 << 10} { // the entries fill 600K
		if err := os.WriteFile(path, full[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		srv, err := New(m.cfg, Options{Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Start()
		if err == nil {
			srv.Kill()
			t.Fatalf("truncated to %d of %d bytes: start succeeded", size, len(full))
		}
		if !errors.Is(err, ErrRaftStoreDamaged) || !strings.Contains(err.Error(), path) {
			t.Fatalf("truncated to %d bytes: %v, want ErrRaftStoreDamaged naming %s", size, err, path)
		}
		t.Logf("truncated to %d bytes: %v", size, err)
	}
	// Full length, but every page after the meta pages zeroed: the meta
	// check passes and bbolt panics on the freelist page; Start recovers it.
	zeroed := append([]byte(nil), full...)
	clear(zeroed[2*4096:])
	if err := os.WriteFile(path, zeroed, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := New(m.cfg, Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); !errors.Is(err, ErrRaftStoreDamaged) || !strings.Contains(err.Error(), path) {
		if err == nil {
			srv.Kill()
		}
		t.Fatalf("zeroed pages: %v, want ErrRaftStoreDamaged naming %s", err, path)
	} else {
		t.Logf("zeroed pages: %v", err)
	}
}
