package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
	"github.com/raftha/raftha/resources"
)

// apiFuzzInputLimit bounds one fuzzed request: its context ends after
// apiFuzzRequestTimeout, so the handler must be back well before.
const (
	apiFuzzRequestTimeout = 2 * time.Second
	apiFuzzInputLimit     = 20 * time.Second
)

// Fuzzed requests choose among these methods, paths (%s is a fuzzed
// group or member name) and credentials.
var (
	apiFuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead}
	apiFuzzPaths   = []string{"/v1/groups", "/v1/groups/%s/transfer", "/v1/members", "/v1/cluster/settings",
		"/v1/groups/%s/suspend", "/v1/groups/%s/resume", "/v1/groups/%s", "/v1/groups/%s/why", "/v1/groups/%s/stop",
		"/v1/members/%s", "/v1/status", "/v1/health", "/v1/whoami", "/v1/events?group=%s", "/metrics", "/v1/%s", "/%s"}
	apiFuzzAuth = []string{"", "Bearer operate-token", "bearer read-token", "Bearer wrong", "Basic b3A6b3A="}
)

// FuzzAPIHandlers sends fuzzed requests (method, path, name, body,
// credentials) to the API handler of a running one-member agent: every
// answer comes within the time limit, and every failure is a JSON
// api.Error with a code whose status is the answer's (never a bare 500).
// The agent has no resource types but `go` with no handlers, so an
// accepted group file runs nothing. The seeds run in plain go test;
// `make fuzz` explores.
func FuzzAPIHandlers(f *testing.F) {
	c := newTestCluster(f, "n1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{
			Operators: []string{"alice"},
			Tokens:    []config.TokenConfig{{Name: "dash", Role: api.RoleRead, SHA256: sha("read-token")}, {Name: "ops", Role: api.RoleOperate, SHA256: sha("operate-token")}},
		}
		m.opts.Registry = resources.NewRegistry()
	})
	c.startAll()
	c.leader()
	h := c.member("n1").srv.apiHandler(APILimits{}.WithDefaults(DefaultAPILimits))

	add := func(method, path int, name, body string, auth int) {
		f.Add(uint8(method), uint8(path), name, []byte(body), uint8(auth))
	}
	add(1, 0, "", "groups:\n  - {name: g, nodes: [n1]}\n", 1)
	add(1, 0, "", "a0: &a0 {x: 1}\na1: &a1 {<<: [*a0, *a0, *a0, *a0]}\na2: &a2 {<<: [*a1, *a1, *a1, *a1]}\ngroups: [{name: g, nodes: [n1], <<: [*a2, *a2]}]\n", 1)
	add(1, 1, "g", `{"to": "n1", "timeout": "1s"}`, 1)
	add(1, 1, "g", `{"to": "n1", "to": "n2"}`, 1)
	add(1, 1, "g", `{"to": "n1"} trailing`, 1)
	add(1, 2, "", `{"id": "n3", "address": "127.0.0.1:1", "role": "node", "extra": 1}`, 1)
	add(1, 3, "", `{"lease": "2s", "LEASE": "3s"}`, 1)
	add(1, 3, "", `{"fencing_mode": "bogus"}`, 1)
	add(1, 4, "g", "", 2)
	add(3, 6, "g", "", 1)
	add(2, 10, "", "", 1)
	add(0, 7, "../../x", "", 2)
	add(0, 15, "nope", "", 0)
	add(5, 11, "", "", 3)
	add(0, 13, "g&x=%zz", "", 4)

	f.Fuzz(func(t *testing.T, method, path uint8, name string, body []byte, auth uint8) {
		m := apiFuzzMethods[int(method)%len(apiFuzzMethods)]
		p := apiFuzzPaths[int(path)%len(apiFuzzPaths)]
		if strings.Contains(p, "%s") {
			p = strings.Replace(p, "%s", url.PathEscape(name), 1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), apiFuzzRequestTimeout)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, m, "https://127.0.0.1"+p, strings.NewReader(string(body)))
		if a := apiFuzzAuth[int(auth)%len(apiFuzzAuth)]; a != "" {
			req.Header.Set("Authorization", a)
		}
		rec := yamlstricttest.Within(t, apiFuzzInputLimit, m+" "+p, func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		})
		if rec.Code < 400 || m == http.MethodHead {
			return
		}
		var e api.Error
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("%s %s: %d answer is not an api.Error: %v", m, p, rec.Code, err)
		}
		if e.Code == "" || (e.Code.HTTPStatus() != rec.Code && rec.Code != http.StatusRequestEntityTooLarge) {
			t.Fatalf("%s %s: %d with code %q (%s)", m, p, rec.Code, e.Code, e.Message)
		}
	})
}
