package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/transport"
)

// caller authenticates r: a client certificate from the cluster CA (the
// TLS layer verified it) or a bearer token from access.tokens. A
// certificate's role is what access.operators grants its name; with no
// access.operators, operator certificates operate and member
// certificates read: a member certificate gets no role for being a
// member's.
func (s *Server) caller(r *http.Request) (api.Caller, bool) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		id, err := transport.CertIdentityOf(r.TLS.PeerCertificates[0])
		if err != nil || id.Name == "" {
			return api.Caller{}, false
		}
		// Without access.operators every operator certificate may
		// operate; a member's never does by default (a witness needs no
		// operate role), only when access.operators names it.
		role := api.RoleRead
		if contains(s.cfg.Access.Operators, id.Name) || (len(s.cfg.Access.Operators) == 0 && id.Kind != transport.KindMember) {
			role = api.RoleOperate
		}
		return api.Caller{Identity: id.Name, Role: role}, true
	}
	// The scheme is case-insensitive (RFC 9110, section 11.1).
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return api.Caller{}, false
	}
	got := api.TokenSHA256(strings.TrimSpace(tok))
	for _, t := range s.cfg.Access.Tokens {
		if subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(t.SHA256))) == 1 {
			return api.Caller{Identity: "token:" + t.Name, Role: t.Role}, true
		}
	}
	return api.Caller{}, false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// callerKey is the context key of the authenticated API caller (see
// withCaller).
type callerKey struct{}

// authorize wraps the API: every /v1 call needs a caller; calls that
// change the cluster (anything but GET and HEAD) need the operate role.
// /metrics accepts any authenticated caller.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/metrics" {
			next.ServeHTTP(w, r) // the dashboard's static files
			return
		}
		c, ok := s.caller(r)
		if !ok {
			// An unauthenticated connection is not kept alive.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, &api.Error{Message: "authentication required: present a client certificate from the cluster CA or an Authorization: Bearer token from access.tokens", Code: api.CodeUnauthorized})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !c.Role.CanChange() {
			writeError(w, http.StatusForbidden, &api.Error{Message: fmt.Sprintf("%s has role %s; changing the cluster needs role %s (access.operators, or a token with role %s)", c.Identity, c.Role, api.RoleOperate, api.RoleOperate), Code: api.CodeForbidden})
			return
		}
		r.Header.Set("X-Raftha-Identity", c.Identity) // for identity(); never trusted from the client
		next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	})
}
