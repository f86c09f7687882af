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
	"strings"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
)

// APIError is the JSON body of every failed API call.
type APIError struct {
	// Error is the message for a person.
	Error string `json:"error"`
	// Code is a stable machine-readable code (no_leader, not_eligible, ...).
	Code string `json:"code,omitempty"`
	// Errors lists per-line problems of a submitted file.
	Errors []*yamlstrict.FieldError `json:"errors,omitempty"`
}

// TransferRequest is the body of POST /v1/groups/{name}/transfer.
type TransferRequest struct {
	// To is the node to move the group to; required.
	To string `json:"to"`
	// Timeout is a Go duration; default 2m.
	Timeout string `json:"timeout,omitempty"`
}

// ApplyResult is the body returned by POST /v1/groups.
type ApplyResult struct {
	// Applied lists the names of the groups in the file, in file order;
	// all of them were committed.
	Applied []string `json:"applied"`
}

// Health is GET /v1/health: this member's own view, never forwarded.
type Health struct {
	// ID is this member's id.
	ID string `json:"id"`
	// Role is this member's configured role, node or witness.
	Role string `json:"role"`
	// RaftState is this member's Raft state: follower, candidate, leader
	// or shutdown.
	RaftState string `json:"raft_state"`
	// Leader is the id of the leader this member knows; "" when none.
	Leader string `json:"leader"`
	// AppliedIndex is the index of the last entry this member's FSM
	// applied.
	AppliedIndex uint64 `json:"applied_index"`
	// LeaseLeftMS is how many milliseconds this member's lease, renewed by
	// each successful heartbeat, has left; 0 or negative when it expired
	// or was never renewed.
	LeaseLeftMS int64 `json:"lease_left_ms"`
	// LastContactMS is how many milliseconds ago this member last heard
	// from a leader (meaningful on a follower); 0 when it never did.
	LastContactMS int64 `json:"last_contact_ms"`
	// Version is the raftha version of this member.
	Version string `json:"version"`
}

// Version is the raftha version, set at build time.
var Version = "dev"

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
	ln, err := net.Listen("tcp", s.cfg.API)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.cfg.API, err)
	}
	tc := s.bundle.APIServerConfig()
	// A client certificate, when given, must come from the cluster CA;
	// callers without one must present a bearer token (authorize).
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	s.apiLn = tls.NewListener(ln, tc)
	mux := http.NewServeMux()
	s.routes(mux)
	s.apiSrv = &http.Server{
		Handler:           s.authorize(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          s.logger.Named("api").StandardLogger(nil),
	}
	go func() {
		if err := s.apiSrv.Serve(s.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("api server stopped", "error", err)
		}
	}()
	return nil
}

func (s *Server) routes(mux *http.ServeMux) {
	s.uiRoutes(mux)
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
	mux.HandleFunc("GET /v1/events", s.handleEvents)
	mux.HandleFunc("GET /v1/cluster/settings", s.handleGetSettings)
	mux.HandleFunc("POST /v1/cluster/settings", s.handleSetSettings)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &APIError{Error: "no such endpoint: " + r.Method + " " + r.URL.Path + " (see /v1/status, /v1/groups, /v1/members, /v1/events, /v1/health)", Code: "not_found"})
	})
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

func writeError(w http.ResponseWriter, code int, e *APIError) { writeJSON(w, code, e) }

// fail maps an error to an HTTP status and a stable code.
func fail(w http.ResponseWriter, err error) {
	var fe yamlstrict.ErrorList
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, &APIError{Error: "invalid file", Code: "invalid", Errors: fe})
		return
	}
	code := errorCode(err)
	status := http.StatusInternalServerError
	switch code {
	case "invalid":
		status = http.StatusBadRequest
	case "no_group", "no_member":
		status = http.StatusNotFound
	case "not_eligible", "busy", "stale_epoch", "refused", "role_mismatch", "not_owner", "ownership":
		status = http.StatusConflict
	case "no_leader", "not_leader", "no_quorum":
		status = http.StatusServiceUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.HasPrefix(err.Error(), "timed out") {
		status, code = http.StatusGatewayTimeout, "timeout"
	}
	writeError(w, status, &APIError{Error: err.Error(), Code: code})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	_, id := s.leaderAddr()
	h := Health{ID: s.cfg.NodeID, Role: string(s.cfg.Role), RaftState: strings.ToLower(s.raft.State().String()),
		Leader: string(id), AppliedIndex: s.fsm.AppliedIndex(), LeaseLeftMS: s.lease.remaining().Milliseconds(), Version: Version}
	if lc := s.raft.LastContact(); !lc.IsZero() {
		h.LastContactMS = time.Since(lc).Milliseconds()
	}
	writeJSON(w, http.StatusOK, h)
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
		fail(w, err)
		return
	}
	if len(data) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, &APIError{Error: "group file larger than 4 MiB", Code: "invalid"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	names, err := s.ApplyGroups(ctx, data, identity(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ApplyResult{Applied: names})
}

func (s *Server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.commit(ctx, &fsm.DeleteGroup{Header: s.header(identity(r)), Name: r.PathValue("name")}); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, &APIError{Error: "body must be JSON like {\"to\": \"node2\"}: " + err.Error(), Code: "invalid"})
		return
	}
	if req.To == "" {
		writeError(w, http.StatusBadRequest, &APIError{Error: "\"to\" is required: the node to move the group to", Code: "invalid"})
		return
	}
	timeout := DefaultTransferTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, &APIError{Error: fmt.Sprintf("timeout %q is not a positive duration like 2m", req.Timeout), Code: "invalid"})
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
	st := s.fsm.View()
	name := r.PathValue("name")
	if _, ok := st.Groups[name]; !ok {
		fail(w, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, name))
		return
	}
	writeJSON(w, http.StatusOK, Why(st, name))
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
	var a MemberArgs
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&a); err != nil {
		writeError(w, http.StatusBadRequest, &APIError{Error: "body must be JSON like {\"id\":\"n3\",\"address\":\"10.0.3.10:7400\",\"role\":\"node\"}: " + err.Error(), Code: "invalid"})
		return
	}
	a.By = identity(r)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.AddMember(ctx, a); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"added": a.ID})
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
