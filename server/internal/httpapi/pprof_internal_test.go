package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestTraceBufferEndsEarlyButKeepsEveryByte: the trace buffer says it is
// full once it holds its bound, so the trace ends early, and it keeps what
// is written after that (runtime/trace's last flush), so the trace stays
// whole.
func TestTraceBufferEndsEarlyButKeepsEveryByte(t *testing.T) {
	b := newTraceBuffer(10)
	full := func() bool {
		select {
		case <-b.full:
			return true
		default:
			return false
		}
	}
	if n, err := b.Write([]byte("12345")); n != 5 || err != nil || full() {
		t.Fatalf("5 of 10 bytes: n=%d err=%v full=%v, want 5, nil, not full", n, err, full())
	}
	if _, err := b.Write([]byte("67890")); err != nil || !full() {
		t.Fatalf("10 of 10 bytes: err=%v full=%v, want full", err, full())
	}
	if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
		t.Fatalf("a write past the bound: n=%d err=%v, want it kept", n, err)
	}
	var got bytes.Buffer
	if n, err := b.WriteTo(&got); n != 13 || err != nil || got.String() != "1234567890abc" || b.len() != 13 {
		t.Fatalf("buffer holds %q (len %d, WriteTo %d, %v), want every byte written", got.String(), b.len(), n, err)
	}
}

// TestTraceBufferGrowsByChunks: a trace larger than a chunk comes back
// byte for byte, and the buffer holds no more than a chunk beyond it (a
// bytes.Buffer would double to twice its bound).
func TestTraceBufferGrowsByChunks(t *testing.T) {
	b := newTraceBuffer(1 << 30)
	want := make([]byte, 2*traceChunk+traceChunk/2+7)
	for i := range want {
		want[i] = byte(i * 7)
	}
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 300_001) // writes that straddle chunks
		if _, err := b.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	var got bytes.Buffer
	if _, err := b.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read back %d bytes (%v), want the %d written, in order", got.Len(), err, len(want))
	}
	held := 0
	for _, c := range b.chunks {
		held += cap(c)
	}
	if held > len(want)+traceChunk {
		t.Fatalf("buffer holds %d bytes of capacity for %d written, want at most a chunk more", held, len(want))
	}
}

// TestTraceOneAtATime: while one execution trace is taken or sent, a
// second caller gets 409 busy (not a second buffer); afterwards a trace
// is served whole, with its length, and without the early-end header.
func TestTraceOneAtATime(t *testing.T) {
	a, h := newFakeAPI(t, &fakeBackend{})
	a.tracing.Lock()
	rec := call(h, "GET", "/v1/debug/pprof/trace?seconds=1", operateToken, "")
	a.tracing.Unlock()
	var e api.Error
	if rec.Code != http.StatusConflict || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Code != api.CodeBusy {
		t.Fatalf("trace while another is taken: %d %s, want 409 busy", rec.Code, rec.Body)
	}
	rec = call(h, "GET", "/v1/debug/pprof/trace?seconds=1", operateToken, "")
	if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte("go 1.")) {
		t.Fatalf("trace: %d, %d bytes, want a Go execution trace", rec.Code, rec.Body.Len())
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("Content-Length %q for a %d-byte trace", cl, rec.Body.Len())
	}
	if e := rec.Header().Get(TraceEndedHeader); e != "" {
		t.Fatalf("a trace that ran its time says it ended early: %q", e)
	}
}
