package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
)

func (a *API) routes(mux *http.ServeMux) {
	a.uiRoutes(mux)
	a.opsRoutes(mux) // ops.go
	a.pprofRoutes(mux)
	mux.HandleFunc("GET /v1/health", a.handleHealth)
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, _ := a.caller(r)
		writeJSON(w, http.StatusOK, c)
	})
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("GET /v1/status", a.handleStatus)
	mux.HandleFunc("GET /v1/groups", a.handleGroups)
	mux.HandleFunc("POST /v1/groups", a.handleApplyGroups)
	mux.HandleFunc("DELETE /v1/groups/{name}", a.handleDeleteGroup)
	mux.HandleFunc("POST /v1/groups/{name}/transfer", a.handleTransfer)
	mux.HandleFunc("POST /v1/groups/{name}/suspend", a.handleSuspend(true))
	mux.HandleFunc("POST /v1/groups/{name}/resume", a.handleSuspend(false))
	mux.HandleFunc("POST /v1/groups/{name}/stop", a.handleStop)
	mux.HandleFunc("POST /v1/groups/{name}/fence-override", a.handleFenceOverride)
	mux.HandleFunc("GET /v1/groups/{name}/why", a.handleWhy)
	mux.HandleFunc("GET /v1/members", a.handleMembers)
	mux.HandleFunc("POST /v1/members", a.handleAddMember)
	mux.HandleFunc("DELETE /v1/members/{id}", a.handleRemoveMember)
	a.standbyRoutes(mux)
	a.snapshotRoutes(mux) // writes.go
	mux.HandleFunc("GET /v1/events", a.handleEvents)
	mux.HandleFunc("GET /v1/cluster/settings", a.handleGetSettings)
	mux.HandleFunc("POST /v1/cluster/settings", a.handleSetSettings)
	mux.HandleFunc("/", notFound(mux))
}

// identity names the caller, as authorize established it.
func identity(r *http.Request) string {
	if id := r.Header.Get("X-Raftha-Identity"); id != "" {
		return id
	}
	return "unknown"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, e *api.Error) { writeJSON(w, code, e) }

// Fail answers err as every handler does: with its stable code
// (Backend.ErrorCode) and the HTTP status of that code, api.CodeInternal
// when it has none; an ErrorList is an invalid file, answered with every
// problem, unless the parse was cut short by the request's context.
func (a *API) Fail(w http.ResponseWriter, err error) {
	var fe yamlstrict.ErrorList
	if errors.As(err, &fe) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "invalid file", Code: api.CodeInvalid, Errors: fe})
		return
	}
	code := a.d.Backend.ErrorCode(err)
	if code == "" {
		code = api.CodeInternal
	}
	writeError(w, code.HTTPStatus(), &api.Error{Message: err.Error(), Code: code})
}

func (a *API) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.d.Backend.Health())
}

func (a *API) handleStatus(w http.ResponseWriter, r *http.Request) {
	serveRead(a, w, r, a.d.Backend.Status)
}

func (a *API) handleGroups(w http.ResponseWriter, r *http.Request) {
	serveRead(a, w, r, statusPart(a, func(st *api.Status) []api.GroupStatus { return st.Groups }))
}

func (a *API) handleMembers(w http.ResponseWriter, r *http.Request) {
	serveRead(a, w, r, statusPart(a, func(st *api.Status) []api.MemberStatus { return st.Members }))
}

// statusPart reads the cluster's status and keeps one part of it.
func statusPart[T any](a *API, part func(*api.Status) T) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		st, err := a.d.Backend.Status(ctx)
		if err != nil {
			var zero T
			return zero, err
		}
		return part(st), nil
	}
}

func (a *API) handleEvents(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get("group")
	var out []fsm.Event
	for _, e := range a.d.FSM.View().Events {
		if group == "" || e.Group == group {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBody bounds request bodies.
const maxBody = 4 << 20

func (a *API) handleApplyGroups(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "reading the group file: " + err.Error(), Code: api.CodeInvalid})
		return
	}
	if len(data) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, &api.Error{Message: "group file larger than 4 MiB", Code: api.CodeInvalid})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	names, err := a.d.Backend.ApplyGroups(ctx, data, identity(r))
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ApplyResult{Applied: names})
}

func (a *API) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.d.Backend.DeleteGroup(ctx, r.PathValue("name"), identity(r)); err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
}

func (a *API) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req api.TransferRequest
	if err := decodeStrictJSON(r.Body, &req); err != nil {
		badJSON(w, `{"to": "node2"}`, err)
		return
	}
	if req.To == "" {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "\"to\" is required: the node to move the group to", Code: api.CodeInvalid})
		return
	}
	timeout := api.DefaultTransferTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, &api.Error{Message: fmt.Sprintf("timeout %q is not a positive duration like 2m", req.Timeout), Code: api.CodeInvalid})
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	g, err := a.d.Backend.Transfer(ctx, r.PathValue("name"), req.To, identity(r))
	a.WriteTransferResult(w, g, err)
}

func (a *API) handleSuspend(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := a.d.Backend.SetSuspended(ctx, r.PathValue("name"), suspend, identity(r)); err != nil {
			a.Fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"group": r.PathValue("name"), "suspended": suspend})
	}
}

func (a *API) handleWhy(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if why := a.d.Backend.CatchUp(ctx); why != "" {
		w.Header().Set(api.HeaderStale, why)
	}
	st := a.d.FSM.View()
	name := r.PathValue("name")
	if _, ok := st.Groups[name]; !ok {
		a.Fail(w, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, name))
		return
	}
	writeJSON(w, http.StatusOK, history.Why(st, name))
}

func (a *API) handleStop(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	g, err := a.d.Backend.StopGroup(ctx, r.PathValue("name"), identity(r))
	if err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *API) handleAddMember(w http.ResponseWriter, r *http.Request) {
	var req api.MemberRequest
	if err := decodeStrictJSON(r.Body, &req); err != nil {
		badJSON(w, `{"id":"n3","address":"10.0.3.10:7400","role":"node"}`, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.d.Backend.AddMember(ctx, req, identity(r)); err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"added": req.ID})
}

func (a *API) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.d.Backend.RemoveMember(ctx, r.PathValue("id"), identity(r)); err != nil {
		a.Fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("id")})
}
