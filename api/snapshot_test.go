package api

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestDecodeSnapshotRefusesBadFiles: a file encoded by EncodeSnapshot
// decodes to its header and payload; a truncated, extended, altered or
// foreign file, or one of another format, is ErrSnapshotInvalid.
func TestDecodeSnapshotRefusesBadFiles(t *testing.T) {
	var buf bytes.Buffer
	payload := []byte("\x01{\"groups\":{}}\n")
	h, err := EncodeSnapshot(&buf, SnapshotHeader{Index: 42, Term: 3, Created: time.Unix(1, 0).UTC(), Member: "n1"}, payload)
	if err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	got, p, err := DecodeSnapshot(bytes.NewReader(file))
	if err != nil || !bytes.Equal(p, payload) || got.Index != 42 || got.SHA256 != h.SHA256 || got.Size != int64(len(payload)) {
		t.Fatalf("decode: %+v %q %v", got, p, err)
	}
	altered := append([]byte(nil), file...)
	altered[len(altered)-2] ^= 1
	otherFormat := bytes.Replace(file, []byte("RAFTHA-SNAPSHOT 1"), []byte("RAFTHA-SNAPSHOT 2"), 1)
	for name, bad := range map[string][]byte{
		"empty":        nil,
		"truncated":    file[:len(file)-1],
		"header only":  file[:len(file)-len(payload)-1],
		"extended":     append(append([]byte(nil), file...), 'x'),
		"altered":      altered,
		"not one":      []byte("{\"groups\":{}}\n"),
		"other format": otherFormat,
	} {
		if _, _, err := DecodeSnapshot(bytes.NewReader(bad)); !errors.Is(err, ErrSnapshotInvalid) {
			t.Errorf("%s: %v; want ErrSnapshotInvalid", name, err)
		}
	}
}
