package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"time"

	"github.com/raftha/raftha/api"
)

// maxCPUProfile bounds one CPU profile taken through the API.
const maxCPUProfile = 60 * time.Second

// pprofRoutes serves Go's profiles of this member under
// /v1/debug/pprof/NAME for callers with the operate role only (a profile
// costs CPU and shows the code's internals): "profile" is a CPU profile
// of ?seconds=N (default 10, at most 60), "trace" an execution trace of
// as long; any other name is one of
// runtime/pprof's (heap, allocs, goroutine, block, mutex, threadcreate),
// in the binary format `go tool pprof` reads, or as text with ?debug=1
// (goroutine ?debug=2: every stack). runtime/pprof is used directly, not
// net/http/pprof, whose import would register handlers on an embedding
// service's http.DefaultServeMux.
//
//	curl --cert ... https://HOST:7401/v1/debug/pprof/profile?seconds=30 > cpu.pprof
//	go tool pprof -top cpu.pprof
//	curl --cert ... https://HOST:7401/v1/debug/pprof/trace?seconds=5 > exec.trace
//	go tool trace exec.trace
func (a *API) pprofRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		if !c.Role.CanChange() {
			writeError(w, http.StatusForbidden, &api.Error{Message: fmt.Sprintf("%s has role %s; profiles need role %s", c.Identity, c.Role, api.RoleOperate), Code: api.CodeForbidden})
			return
		}
		name := r.PathValue("name")
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if name == "profile" {
			a.cpuProfile(w, r)
			return
		}
		if name == "trace" {
			a.execTrace(w, r)
			return
		}
		p := pprof.Lookup(name)
		if p == nil {
			writeError(w, http.StatusNotFound, &api.Error{Message: fmt.Sprintf("no profile %q: profile, trace, heap, allocs, goroutine, block, mutex or threadcreate", name), Code: api.CodeNotFound})
			return
		}
		if debug > 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		_ = p.WriteTo(w, debug)
	})
}

// cpuProfile writes a CPU profile of ?seconds=N. Only one runs at a time
// in a process (runtime/pprof's rule): a second caller gets 409.
// runtime/pprof writes the profile when it stops, so the API's write
// deadline (armed at the first byte) does not run during the wait.
func (a *API) cpuProfile(w http.ResponseWriter, r *http.Request) {
	d, ok := profileSeconds(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Set("Content-Type", "application/json")
		writeError(w, http.StatusConflict, &api.Error{Message: "a CPU profile is already running: " + err.Error(), Code: api.CodeBusy})
		return
	}
	a.wait(r, d, nil)
	pprof.StopCPUProfile()
}

// maxTraceBytes bounds the execution trace held in memory; a trace that
// reaches it ends early (and says so in the TraceEndedHeader). An idle
// member writes about 25 KiB a second, a busy one a few MiB.
const maxTraceBytes = 64 << 20

// TraceEndedHeader is set on a trace that ended before ?seconds=N, to
// the reason: "size-limit" (maxTraceBytes), "caller-gone" or "agent-stopping".
const TraceEndedHeader = "X-Raftha-Trace-Ended"

// execTrace writes a Go execution trace of ?seconds=N (`go tool trace`
// reads it). A CPU profile shows where an idle member's time goes; a trace
// shows what woke it (every timer, network read and goroutine hand-off),
// which is most of an idle agent's cost (docs/scale.md, "Idle footprint").
// The trace is gathered in memory (at most maxTraceBytes, plus what the
// runtime flushes as it stops) and written once it ends: runtime/trace
// writes as it goes, and the API's write deadline would cut a long trace
// off. One trace is taken or sent at a time (a.tracing): a second caller
// gets 409, as does any caller while the process traces for another
// reason (runtime/trace allows one trace per process: a program that
// embeds the agent may be tracing, and a member's trace shows the whole
// process, the embedding program's goroutines included).
func (a *API) execTrace(w http.ResponseWriter, r *http.Request) {
	d, ok := profileSeconds(w, r)
	if !ok {
		return
	}
	if !a.tracing.TryLock() {
		writeError(w, http.StatusConflict, &api.Error{Message: "an execution trace of this member is already being taken or sent; try again when it is done", Code: api.CodeBusy})
		return
	}
	defer a.tracing.Unlock()
	buf := newTraceBuffer(maxTraceBytes)
	if err := trace.Start(buf); err != nil {
		writeError(w, http.StatusConflict, &api.Error{Message: "runtime/trace is already on in this process (a program that embeds the agent, or go test -trace): " + err.Error(), Code: api.CodeBusy})
		return
	}
	ended := a.wait(r, d, buf.full)
	// Stop returns once the runtime wrote the trace's last byte to buf.
	// runtime/trace has one trace per process: should the embedding
	// program stop ours and start its own meanwhile, this stops theirs.
	trace.Stop()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(buf.len()))
	if ended != "" {
		w.Header().Set(TraceEndedHeader, ended)
	}
	_, _ = buf.WriteTo(w)
}

// profileSeconds is ?seconds=N (default 10 s, at most maxCPUProfile); a
// bad value is answered with 400 and false.
func profileSeconds(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	v := r.URL.Query().Get("seconds")
	if v == "" {
		return 10 * time.Second, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		writeError(w, http.StatusBadRequest, &api.Error{Message: fmt.Sprintf("seconds=%q: want a positive whole number", v), Code: api.CodeInvalid})
		return 0, false
	}
	return min(time.Duration(n)*time.Second, maxCPUProfile), true
}

// wait returns after d, or once full is closed, the caller hangs up or
// the agent stops; it says which, "" for d.
func (a *API) wait(r *http.Request, d time.Duration, full <-chan struct{}) string {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ""
	case <-full:
		return "size-limit"
	case <-r.Context().Done():
		return "caller-gone"
	case <-a.d.Ctx.Done():
		return "agent-stopping"
	}
}

// traceChunk is the size of a traceBuffer's chunks: the buffer grows by
// a chunk, never by doubling, so it holds at most a chunk more than it
// was given.
const traceChunk = 1 << 20

// traceBuffer holds a trace as runtime/trace writes it and closes full
// once it holds max bytes. It never drops a write: what runtime/trace
// flushes between full and Stop is kept, so the trace stays whole.
type traceBuffer struct {
	mu     sync.Mutex
	chunks [][]byte
	n      int
	max    int
	full   chan struct{}
	once   sync.Once
}

func newTraceBuffer(max int) *traceBuffer {
	return &traceBuffer{max: max, full: make(chan struct{})}
}

func (b *traceBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for rest := p; len(rest) > 0; {
		k := len(b.chunks) - 1
		if k < 0 || len(b.chunks[k]) == cap(b.chunks[k]) {
			b.chunks = append(b.chunks, make([]byte, 0, traceChunk))
			k++
		}
		c := b.chunks[k]
		m := min(len(rest), cap(c)-len(c))
		b.chunks[k] = append(c, rest[:m]...)
		rest = rest[m:]
	}
	b.n += len(p)
	if b.n >= b.max {
		b.once.Do(func() { close(b.full) })
	}
	return len(p), nil
}

func (b *traceBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// WriteTo writes what b holds to w, chunk by chunk.
func (b *traceBuffer) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, c := range b.chunks {
		m, err := w.Write(c)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
