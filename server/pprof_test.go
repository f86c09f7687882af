package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime/trace"
	"strings"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestPprofNeedsOperate: profiles of a live member are served to the
// operate role only; the binary ones are gzipped protobuf (what go tool
// pprof reads), the text ones name this package's goroutines, the
// execution trace is one go tool trace reads and runs one at a time; an
// unknown profile is 404 and a bad seconds= 400.
func TestPprofNeedsOperate(t *testing.T) {
	g := startAPIGuard(t, APILimits{}, nil)
	if code, _, e := g.call(t, "GET", "/v1/debug/pprof/heap", "Bearer read-token", ""); code != http.StatusForbidden || e.Code != api.CodeForbidden {
		t.Fatalf("read role: %d %+v, want 403", code, e)
	}
	if code, _, _ := g.call(t, "GET", "/v1/debug/pprof/heap", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credential: %d, want 401", code)
	}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", "https://"+g.addr+path, nil)
		req.Header.Set("Authorization", "Bearer operate-token")
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	for _, path := range []string{"/v1/debug/pprof/heap", "/v1/debug/pprof/profile?seconds=1"} {
		code, data := get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, data)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: not a gzipped profile: %v", path, err)
		}
		if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
			t.Fatalf("%s: empty or broken profile: %v", path, err)
		}
	}
	if code, data := get("/v1/debug/pprof/goroutine?debug=2"); code != http.StatusOK || !strings.Contains(string(data), "github.com/raftha/raftha/server.") {
		t.Fatalf("goroutine dump: %d, %d bytes without this package's stacks", code, len(data))
	}
	if code, _ := get("/v1/debug/pprof/nosuch"); code != http.StatusNotFound {
		t.Fatalf("unknown profile: %d, want 404", code)
	}
	if code, _ := get("/v1/debug/pprof/profile?seconds=x"); code != http.StatusBadRequest {
		t.Fatalf("bad seconds: %d, want 400", code)
	}
	if code, _ := get("/v1/debug/pprof/trace?seconds=0"); code != http.StatusBadRequest {
		t.Fatalf("trace, bad seconds: %d, want 400", code)
	}

	// An execution trace: one go tool trace reads (its header names the
	// format). runtime/trace allows one trace per process: while the
	// process traces for another reason (here the test, as a program
	// embedding the agent might), the API answers 409.
	if err := trace.Start(io.Discard); err != nil {
		t.Skipf("runtime/trace is already on (go test -trace?): %v", err)
	}
	code, data := get("/v1/debug/pprof/trace?seconds=1")
	trace.Stop()
	if code != http.StatusConflict {
		t.Fatalf("trace while the process already traces: %d %s, want 409", code, data)
	}
	code, data = get("/v1/debug/pprof/trace?seconds=1")
	if code != http.StatusOK || !bytes.HasPrefix(data, []byte("go 1.")) || !bytes.Contains(data[:min(len(data), 16)], []byte(" trace")) {
		t.Fatalf("trace: %d, %d bytes starting %q, want a Go execution trace", code, len(data), data[:min(len(data), 16)])
	}
}
