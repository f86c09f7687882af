package httpapi

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/transport"
)

// Caller is an authenticated API caller and the kind of certificate it
// presented ("" for a token).
type Caller struct {
	api.Caller
	Kind transport.CertKind
}

// callerKey is the context key of the authenticated API caller (see
// CallerFrom).
type callerKey struct{}

// withCaller is ctx carrying the authenticated API caller, for the calls
// this member forwards to the leader.
func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom is the API caller a request's context carries (authorize
// put it there), which the server forwards with an operator call so that
// the leader can check the caller's role itself; ok is false for a call
// that did not come through the API (a Go caller of the process).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// caller authenticates r: a client certificate from the cluster CA (the
// TLS layer verified it) or a bearer token from access.tokens. A
// certificate's role is what access.operators grants its name; with no
// access.operators, operator certificates operate and member
// certificates read: a member certificate gets no role for being a
// member's.
func (a *API) caller(r *http.Request) (api.Caller, bool) {
	c, ok := a.callerKind(r)
	return c.Caller, ok
}

// callerKind is caller with the kind of certificate it presented ("" for a
// token), which a forwarded call carries so that the leader can work out
// the role itself (RoleOf).
func (a *API) callerKind(r *http.Request) (Caller, bool) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		id, err := transport.CertIdentityOf(r.TLS.PeerCertificates[0])
		if err != nil || id.Name == "" {
			return Caller{}, false
		}
		return Caller{Caller: api.Caller{Identity: id.Name, Role: RoleOf(a.d.Access, id.Name, id.Kind)}, Kind: id.Kind}, true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return Caller{}, false
	}
	got := api.TokenSHA256(strings.TrimSpace(tok))
	for _, t := range a.d.Access.Tokens {
		if subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(t.SHA256))) == 1 {
			return Caller{Caller: api.Caller{Identity: tokenIdentity + t.Name, Role: t.Role}}, true
		}
	}
	return Caller{}, false
}

// tokenIdentity prefixes the identity of a bearer token's caller.
const tokenIdentity = "token:"

// RoleOf is the role access gives a caller: a token ("token:NAME") its
// role; a certificate what access.operators grants its name. With no
// access.operators, operator (and legacy) certificates operate and member
// certificates read: a member certificate gets no role for being a
// member's. The leader applies it to every operator call a member
// forwards, so the role that counts is the leader's.
func RoleOf(access config.AccessConfig, identity string, kind transport.CertKind) api.Role {
	if name, ok := strings.CutPrefix(identity, tokenIdentity); ok && kind == "" {
		for _, t := range access.Tokens {
			if t.Name == name {
				return t.Role
			}
		}
		return ""
	}
	if slices.Contains(access.Operators, identity) || (len(access.Operators) == 0 && kind != transport.KindMember) {
		return api.RoleOperate
	}
	return api.RoleRead
}

// authorize wraps the API: every /v1 call needs a caller; calls that
// change the cluster (anything but GET and HEAD) need the operate role.
// /metrics accepts any authenticated caller.
func (a *API) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/metrics" {
			next.ServeHTTP(w, r) // the dashboard's static files
			return
		}
		c, ok := a.callerKind(r)
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
