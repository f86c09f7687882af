package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/transport"
)

// fakeBackend answers the calls the unit tests make; any other call
// panics (the embedded nil Backend).
type fakeBackend struct {
	Backend
	started, stopped bool
	leader           string
	leaseLeft        time.Duration
	leaderAPI        string // "" : this member serves leader-only calls
	transferErr      error
	calls            []string // by of each change
}

var (
	errFakeInProgress = errors.New("fake: in progress")
	errFakeNoLeader   = errors.New("fake: no leader")
)

func (f *fakeBackend) ErrorCode(err error) api.Code {
	switch {
	case errors.Is(err, errFakeInProgress):
		return api.CodeInProgress
	case errors.Is(err, errFakeNoLeader):
		return api.CodeNoLeader
	case errors.Is(err, fsm.ErrNoGroup):
		return api.CodeNoGroup
	case errors.Is(err, fsm.ErrInvalid):
		return api.CodeInvalid
	}
	return ""
}

func (f *fakeBackend) Health() api.Health { return api.Health{ID: "n1", Role: "node"} }

func (f *fakeBackend) Transfer(_ context.Context, group, to, by string) (api.GroupStatus, error) {
	f.calls = append(f.calls, by)
	return api.GroupStatus{Name: group, Owner: to}, f.transferErr
}

func (f *fakeBackend) SetSuspended(_ context.Context, _ string, _ bool, by string) error {
	f.calls = append(f.calls, by)
	return nil
}

func (f *fakeBackend) LeaderAPI() (string, bool, error) {
	if f.leaderAPI == "" {
		return "", false, nil
	}
	if f.leaderAPI == "?" {
		return "", true, fmt.Errorf("%w: knows no leader's API", errFakeNoLeader)
	}
	return f.leaderAPI, true, nil
}

func (f *fakeBackend) SaveSnapshot(context.Context) ([]byte, api.SnapshotHeader, error) {
	return []byte("snapshot"), api.SnapshotHeader{}, nil
}

func (f *fakeBackend) CatchUp(context.Context) string { return "" }

func (f *fakeBackend) Running() (bool, bool)          { return f.started, f.stopped }
func (f *fakeBackend) LeaderID() string               { return f.leader }
func (f *fakeBackend) LeaseLeft() time.Duration       { return f.leaseLeft }
func (f *fakeBackend) LeaseValid(string, uint64) bool { return false }

// Tokens of the fake member's access settings.
const (
	readToken    = "read-token"
	operateToken = "operate-token"
)

func newFakeAPI(t *testing.T, b *fakeBackend) (*API, http.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a := New(Deps{Backend: b, FSM: fsm.New(), NodeID: "n1", Lease: config.Duration(2 * time.Second),
		Access: config.AccessConfig{Tokens: []config.TokenConfig{
			{Name: "dash", Role: api.RoleRead, SHA256: api.TokenSHA256(readToken)},
			{Name: "ops", Role: api.RoleOperate, SHA256: api.TokenSHA256(operateToken)},
		}},
		Logger: hclog.NewNullLogger(), Ctx: ctx, Go: func(fn func()) { go fn() }})
	return a, a.Handler(Limits{}.WithDefaults(Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second, MaxConns: 8, MaxConnsPerIP: 8}))
}

// call serves one request through h (not over the network: withDeadlines'
// deadlines are no-ops on a recorder).
func call(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAuthorizeRolesAndIdentity(t *testing.T) {
	b := &fakeBackend{}
	_, h := newFakeAPI(t, b)
	for _, tc := range []struct {
		method, path, token string
		code                int
		errCode             api.Code
	}{
		{"GET", "/v1/health", "", http.StatusUnauthorized, api.CodeUnauthorized},
		{"GET", "/metrics", "", http.StatusUnauthorized, api.CodeUnauthorized},
		{"GET", "/v1/health", "wrong", http.StatusUnauthorized, api.CodeUnauthorized},
		{"GET", "/v1/health", readToken, http.StatusOK, ""},
		{"POST", "/v1/groups/db/suspend", readToken, http.StatusForbidden, api.CodeForbidden},
		{"POST", "/v1/groups/db/suspend", operateToken, http.StatusOK, ""},
		{"GET", "/v1/debug/pprof/heap", readToken, http.StatusForbidden, api.CodeForbidden},
		{"GET", "/ui/", "", http.StatusOK, ""}, // static files need no credential
	} {
		rec := call(h, tc.method, tc.path, tc.token, "")
		if rec.Code != tc.code {
			t.Errorf("%s %s (token %q): %d %s; want %d", tc.method, tc.path, tc.token, rec.Code, rec.Body, tc.code)
			continue
		}
		if tc.code == http.StatusUnauthorized && rec.Header().Get("Connection") != "close" {
			t.Errorf("%s %s: a 401 keeps the connection alive", tc.method, tc.path)
		}
		if tc.errCode != "" && !strings.Contains(rec.Body.String(), `"code": "`+string(tc.errCode)+`"`) {
			t.Errorf("%s %s: body %s; want code %s", tc.method, tc.path, rec.Body, tc.errCode)
		}
	}
	// The identity recorded is the authenticated one, never the header a
	// client sends.
	req := httptest.NewRequest("POST", "/v1/groups/db/suspend", nil)
	req.Header.Set("Authorization", "Bearer "+operateToken)
	req.Header.Set("X-Raftha-Identity", "mallory")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got := b.calls[len(b.calls)-1]; got != "token:ops" {
		t.Fatalf("change recorded as %q; want token:ops", got)
	}
	rec := call(h, "GET", "/v1/whoami", readToken, "")
	if !strings.Contains(rec.Body.String(), `"token:dash"`) || !strings.Contains(rec.Body.String(), `"read"`) {
		t.Fatalf("whoami: %s", rec.Body)
	}
}

func TestRoleOf(t *testing.T) {
	ops := config.AccessConfig{Operators: []string{"alice"}, Tokens: []config.TokenConfig{{Name: "ops", Role: api.RoleOperate}}}
	for _, tc := range []struct {
		access   config.AccessConfig
		identity string
		kind     transport.CertKind
		want     api.Role
	}{
		{ops, "alice", transport.KindOperator, api.RoleOperate},
		{ops, "bob", transport.KindOperator, api.RoleRead},
		{ops, "token:ops", "", api.RoleOperate},
		{ops, "token:gone", "", ""},
		{ops, "token:ops", transport.KindOperator, api.RoleRead}, // a certificate named like a token is not one
		{config.AccessConfig{}, "bob", transport.KindOperator, api.RoleOperate},
		{config.AccessConfig{}, "n2", transport.KindMember, api.RoleRead},
		{config.AccessConfig{}, "legacy", transport.KindLegacy, api.RoleOperate},
	} {
		if got := RoleOf(tc.access, tc.identity, tc.kind); got != tc.want {
			t.Errorf("RoleOf(%+v, %q, %q) = %q; want %q", tc.access, tc.identity, tc.kind, got, tc.want)
		}
	}
}

func TestNotFoundAnd405(t *testing.T) {
	_, h := newFakeAPI(t, &fakeBackend{})
	rec := call(h, "PUT", "/v1/groups/db/transfer", operateToken, "")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" || !strings.Contains(rec.Body.String(), string(api.CodeMethodNotAllowed)) {
		t.Fatalf("PUT transfer: %d Allow %q %s", rec.Code, rec.Header().Get("Allow"), rec.Body)
	}
	if rec := call(h, "GET", "/v1/nope", operateToken, ""); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), string(api.CodeNotFound)) {
		t.Fatalf("GET /v1/nope: %d %s", rec.Code, rec.Body)
	}
}

func TestStrictJSONBodies(t *testing.T) {
	b := &fakeBackend{}
	_, h := newFakeAPI(t, b)
	for _, body := range []string{
		`{"to": "n2", "to": "n3"}`,
		`{"to": "n2", "TO": "n3"}`,
		`{"to": "n2"} {}`,
		`{"to": "n2", "extra": 1}`,
		`{"to": "n2", "timeout": "-1s"}`,
		`{}`,
		strings.Repeat("[", maxJSONDepth+1),
	} {
		if rec := call(h, "POST", "/v1/groups/db/transfer", operateToken, body); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), string(api.CodeInvalid)) {
			t.Errorf("transfer body %.40q: %d %s; want 400 invalid", body, rec.Code, rec.Body)
		}
	}
	if len(b.calls) != 0 {
		t.Fatalf("refused bodies reached the backend: %v", b.calls)
	}
	if rec := call(h, "POST", "/v1/groups/db/transfer", operateToken, `{"to": "n2", "timeout": "1s"}`); rec.Code != http.StatusOK {
		t.Fatalf("valid transfer: %d %s", rec.Code, rec.Body)
	}
}

// TestErrorsAnsweredByTheirCode: the HTTP status comes from the code the
// Backend classifies, never from the text.
func TestErrorsAnsweredByTheirCode(t *testing.T) {
	b := &fakeBackend{}
	a, h := newFakeAPI(t, b)
	b.transferErr = fmt.Errorf("%w: still moving", errFakeInProgress)
	rec := call(h, "POST", "/v1/groups/db/transfer", operateToken, `{"to": "n2"}`)
	if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"code": "in_progress"`) || !strings.Contains(rec.Body.String(), `"owner": "n2"`) {
		t.Fatalf("in-progress transfer: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("wrapped: %w", errFakeNoLeader), http.StatusServiceUnavailable},
		{fmt.Errorf("%w: no group named x", fsm.ErrNoGroup), http.StatusNotFound},
		{errors.New("no leader, says the text only"), http.StatusInternalServerError},
	} {
		rec := httptest.NewRecorder()
		a.Fail(rec, tc.err)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.err.Error()) {
			t.Errorf("Fail(%v): %d %s; want %d", tc.err, rec.Code, rec.Body, tc.code)
		}
	}
}

func TestSnapshotRedirectsToTheLeader(t *testing.T) {
	b := &fakeBackend{leaderAPI: "10.0.0.2:7401"}
	_, h := newFakeAPI(t, b)
	rec := call(h, "POST", "/v1/snapshot/restore?epoch_floor=9", operateToken, "")
	if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != "https://10.0.0.2:7401/v1/snapshot/restore?epoch_floor=9" {
		t.Fatalf("restore on a follower: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	b.leaderAPI = "?"
	if rec := call(h, "POST", "/v1/snapshot", operateToken, ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), string(api.CodeNoLeader)) {
		t.Fatalf("save without a known leader: %d %s", rec.Code, rec.Body)
	}
	b.leaderAPI = ""
	rec = call(h, "POST", "/v1/snapshot", operateToken, "")
	if rec.Code != http.StatusOK || rec.Body.String() != "snapshot" || rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("save on the leader: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}

func TestHealthHandler(t *testing.T) {
	b := &fakeBackend{}
	a, _ := newFakeAPI(t, b)
	h := a.healthHandler()
	get := func(method, path string) (int, string) {
		rec := call(h, method, path, "", "")
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, string(body)
	}
	if code, body := get("GET", "/health/live"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("live before start: %d %s", code, body)
	}
	b.started = true
	if code, body := get("GET", "/health/live"); code != http.StatusOK {
		t.Fatalf("live: %d %s", code, body)
	}
	if code, body := get("GET", "/health/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no leader known") {
		t.Fatalf("ready without a leader: %d %s", code, body)
	}
	b.leader = "n2"
	if code, body := get("GET", "/health/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "within timing.lease (2s)") {
		t.Fatalf("ready without a lease: %d %s", code, body)
	}
	b.leaseLeft = time.Second
	if code, body := get("GET", "/health/ready"); code != http.StatusOK || !strings.Contains(body, `"lease_left_ms": 1000`) {
		t.Fatalf("ready: %d %s", code, body)
	}
	if code, body := get("GET", "/health/group/db"); code != http.StatusNotFound || !strings.Contains(body, "not-found") {
		t.Fatalf("unknown group: %d %s", code, body)
	}
	rec := call(h, "POST", "/health/live", "", "")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST live: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if code, _ := get("GET", "/health/group/a/b"); code != http.StatusNotFound {
		t.Fatalf("nested group path: %d", code)
	}
	b.stopped = true
	if code, body := get("GET", "/health/live"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopping") {
		t.Fatalf("live while stopping: %d %s", code, body)
	}
}

// TestAPIBearerCaseInsensitive: the Authorization scheme is matched
// without regard to case (RFC 9110).
func TestAPIBearerCaseInsensitive(t *testing.T) {
	_, h := newFakeAPI(t, &fakeBackend{})
	for _, auth := range []string{"Bearer read-token", "bearer read-token", "BEARER read-token", "Bearer  read-token"} {
		req := httptest.NewRequest("GET", "/v1/whoami", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%q: %d %s", auth, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest("GET", "/v1/whoami", nil)
	req.Header.Set("Authorization", "Basic read-token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), string(api.CodeUnauthorized)) {
		t.Errorf("Basic: %d %s", rec.Code, rec.Body)
	}
}

func (f *fakeBackend) Status(context.Context) (*api.Status, error) {
	if f.leader == "" {
		return nil, fmt.Errorf("%w: status", errFakeNoLeader)
	}
	return &api.Status{Groups: []api.GroupStatus{{Name: "db", Owner: "n1"}}, Members: []api.MemberStatus{{ID: "n1"}}}, nil
}

// TestStatusReads: /v1/status, /v1/groups and /v1/members answer the
// status or its part, or the status's error by its code.
func TestStatusReads(t *testing.T) {
	b := &fakeBackend{}
	_, h := newFakeAPI(t, b)
	for _, path := range []string{"/v1/status", "/v1/groups", "/v1/members"} {
		if rec := call(h, "GET", path, readToken, ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), string(api.CodeNoLeader)) {
			t.Errorf("GET %s without a leader: %d %s", path, rec.Code, rec.Body)
		}
	}
	b.leader = "n1"
	for path, want := range map[string]string{"/v1/status": `"groups": [`, "/v1/groups": `"name": "db"`, "/v1/members": `"id": "n1"`} {
		rec := call(h, "GET", path, readToken, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s; want %s", path, rec.Code, rec.Body, want)
		}
	}
	if rec := call(h, "GET", "/v1/groups", readToken, ""); strings.HasPrefix(strings.TrimSpace(rec.Body.String()), "{") {
		t.Errorf("GET /v1/groups answers an object, not the list: %s", rec.Body)
	}
}
