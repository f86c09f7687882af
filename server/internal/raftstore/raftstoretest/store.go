// Package raftstoretest holds test helpers for raft.db files, shared by
// the tests of server and server/internal/raftstore.
package raftstoretest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// WriteLegacy fills a raft.db at path with n entries from index from
// through the plain bolt store (no checksums, as an older build wrote
// them), each with 700 bytes of data.
func WriteLegacy(t testing.TB, path string, from, n uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs []*raft.Log
	for i := from; i < from+n; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 700)})
	}
	if err := st.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}
