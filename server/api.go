package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
)

func (s *Server) advertisedAPI() string {
	if s.apiLn == nil {
		return ""
	}
	addr := s.apiLn.Addr().String()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ah, _, err := net.SplitHostPort(s.RaftAddr()); err == nil {
			return net.JoinHostPort(ah, port)
		}
	}
	return addr
}

func (s *Server) startAPI() error {
	if s.apiOff {
		return nil // Options.DisableAPI
	}
	ln := s.apiListener // Options.APIListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.API); err != nil {
			return fmt.Errorf("api: listen on %s: %w", s.cfg.API, err)
		}
	}
	tc := s.bundle.APIServerConfig()
	// A client certificate, when given, must come from the cluster CA;
	// callers without one must present a bearer token (authorize).
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	// Connection limits and accept failures are handled under TLS, on the
	// raw connections (apilimits.go); http.Server must see *tls.Conn.
	lim := s.apiLimits.withDefaults()
	s.apiLn = tls.NewListener(newLimitListener(ln, lim, tc, s.logger), tc)
	apiAddr := s.apiLn.Addr().String()
	s.apiAddr.Store(&apiAddr)
	s.apiSrv = &http.Server{
		Handler:           s.apiHandler(lim),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          s.logger.Named("api").StandardLogger(nil),
	}
	go func() {
		if err := s.apiSrv.Serve(s.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("api server stopped", "error", err)
		}
	}()
	return nil
}

// apiHandler is the whole API as startAPI serves it: deadlines,
// authorization and the routes.
func (s *Server) apiHandler(lim APILimits) http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	return withDeadlines(lim, s.authorize(mux))
}

func (s *Server) routes(mux *http.ServeMux) {
	s.uiRoutes(mux)
	s.opsRoutes(mux) // opsapi.go
	s.pprofRoutes(mux)
	mux.HandleFunc("GET /v1/health", s.handleHealth)
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, _ := s.caller(r)
		writeJSON(w, http.StatusOK, c)
	})
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	mux.HandleFunc("GET /v1/groups", s.handleGroups)
	mux.HandleFunc("POST /v1/groups", s.handleApplyGroups)
	mux.HandleFunc("DELETE /v1/groups/{name}", s.handleDeleteGroup)
	mux.HandleFunc("POST /v1/groups/{name}/transfer", s.handleTransfer)
	mux.HandleFunc("POST /v1/groups/{name}/suspend", s.handleSuspend(true))
	mux.HandleFunc("POST /v1/groups/{name}/resume", s.handleSuspend(false))
	mux.HandleFunc("POST /v1/groups/{name}/stop", s.handleStop)
	mux.HandleFunc("POST /v1/groups/{name}/fence-override", s.handleFenceOverride)
	mux.HandleFunc("GET /v1/groups/{name}/why", s.handleWhy)
	mux.HandleFunc("GET /v1/members", s.handleMembers)
	mux.HandleFunc("POST /v1/members", s.handleAddMember)
	mux.HandleFunc("DELETE /v1/members/{id}", s.handleRemoveMember)
	s.standbyRoutes(mux)
	s.snapshotRoutes(mux) // snapshot.go
	mux.HandleFunc("GET /v1/events", s.handleEvents)
	mux.HandleFunc("GET /v1/cluster/settings", s.handleGetSettings)
	mux.HandleFunc("POST /v1/cluster/settings", s.handleSetSettings)
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

// fail answers err with its stable code (errorCode) and the HTTP status
// of that code, api.CodeInternal when it has none; an ErrorList is an
// invalid file, answered with every problem, unless the parse was cut
// short by the request's context.
func fail(w http.ResponseWriter, err error) {
	var fe yamlstrict.ErrorList
	if errors.As(err, &fe) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "invalid file", Code: api.CodeInvalid, Errors: fe})
		return
	}
	code := errorCode(err)
	if code == "" {
		code = api.CodeInternal
	}
	writeError(w, code.HTTPStatus(), &api.Error{Message: err.Error(), Code: code})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Health())
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st.Groups)
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st.Members)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	group := r.URL.Query().Get("group")
	var out []fsm.Event
	for _, e := range s.fsm.View().Events {
		if group == "" || e.Group == group {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBody bounds request bodies.
const maxBody = 4 << 20

func (s *Server) handleApplyGroups(w http.ResponseWriter, r *http.Request) {
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
	names, err := s.ApplyGroups(ctx, data, identity(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ApplyResult{Applied: names})
}

func (s *Server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.operatorCommit(ctx, &fsm.DeleteGroup{Header: s.header(identity(r)), Name: r.PathValue("name")}); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
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
	g, err := s.Transfer(ctx, r.PathValue("name"), req.To, identity(r))
	writeTransferResult(w, g, err)
}

func (s *Server) handleSuspend(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := s.SetSuspended(ctx, r.PathValue("name"), suspend, identity(r)); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"group": r.PathValue("name"), "suspended": suspend})
	}
}

func (s *Server) handleWhy(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if why := s.catchUp(ctx); why != "" {
		w.Header().Set(api.HeaderStale, why)
	}
	st := s.fsm.View()
	name := r.PathValue("name")
	if _, ok := st.Groups[name]; !ok {
		fail(w, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, name))
		return
	}
	writeJSON(w, http.StatusOK, history.Why(st, name))
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	g, err := s.StopGroup(ctx, r.PathValue("name"), identity(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) {
	var req api.MemberRequest
	if err := decodeStrictJSON(r.Body, &req); err != nil {
		badJSON(w, `{"id":"n3","address":"10.0.3.10:7400","role":"node"}`, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.AddMember(ctx, req, identity(r)); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"added": req.ID})
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.RemoveMember(ctx, r.PathValue("id"), identity(r)); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("id")})
}
