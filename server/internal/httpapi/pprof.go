package httpapi

import (
	"fmt"
	"net/http"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/raftha/raftha/api"
)

// maxCPUProfile bounds one CPU profile taken through the API.
const maxCPUProfile = 60 * time.Second

// pprofRoutes serves Go's profiles of this member under
// /v1/debug/pprof/NAME for callers with the operate role only (a profile
// costs CPU and shows the code's internals): "profile" is a CPU profile
// of ?seconds=N (default 10, at most 60); any other name is one of
// runtime/pprof's (heap, allocs, goroutine, block, mutex, threadcreate),
// in the binary format `go tool pprof` reads, or as text with ?debug=1
// (goroutine ?debug=2: every stack). runtime/pprof is used directly, not
// net/http/pprof, whose import would register handlers on an embedding
// service's http.DefaultServeMux.
//
//	curl --cert ... https://HOST:7401/v1/debug/pprof/profile?seconds=30 > cpu.pprof
//	go tool pprof -top cpu.pprof
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
		p := pprof.Lookup(name)
		if p == nil {
			writeError(w, http.StatusNotFound, &api.Error{Message: fmt.Sprintf("no profile %q: profile, heap, allocs, goroutine, block, mutex or threadcreate", name), Code: api.CodeNotFound})
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
func (a *API) cpuProfile(w http.ResponseWriter, r *http.Request) {
	d := 10 * time.Second
	if v := r.URL.Query().Get("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, &api.Error{Message: fmt.Sprintf("seconds=%q: want a positive whole number", v), Code: api.CodeInvalid})
			return
		}
		d = min(time.Duration(n)*time.Second, maxCPUProfile)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Set("Content-Type", "application/json")
		writeError(w, http.StatusConflict, &api.Error{Message: "a CPU profile is already running: " + err.Error(), Code: api.CodeBusy})
		return
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	case <-a.d.Ctx.Done():
		t.Stop()
	}
	pprof.StopCPUProfile()
}
