package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/raftha/raftha/transport"
)

// Role names of API callers.
const (
	// RoleRead may look at the cluster.
	RoleRead = "read"
	// RoleOperate may also change it.
	RoleOperate = "operate"
)

// Caller is who made an API request and what they may do.
type Caller struct {
	// Identity is the certificate name, or "token:NAME".
	Identity string `json:"identity"`
	// Role is read or operate.
	Role string `json:"role"`
}

// caller authenticates r: a client certificate from the cluster CA (the
// TLS layer verified it) or a bearer token from access.tokens.
func (s *Server) caller(r *http.Request) (Caller, bool) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		id := transport.CertIdentity(r.TLS.PeerCertificates[0])
		role := RoleRead
		if len(s.cfg.Access.Operators) == 0 || s.isMember(id) || contains(s.cfg.Access.Operators, id) {
			role = RoleOperate
		}
		return Caller{Identity: id, Role: role}, true
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return Caller{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	got := hex.EncodeToString(sum[:])
	for _, t := range s.cfg.Access.Tokens {
		if subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(t.SHA256))) == 1 {
			return Caller{Identity: "token:" + t.Name, Role: t.Role}, true
		}
	}
	return Caller{}, false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

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
			writeError(w, http.StatusUnauthorized, &APIError{Error: "authentication required: present a client certificate from the cluster CA or an Authorization: Bearer token from access.tokens", Code: "unauthorized"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && c.Role != RoleOperate {
			writeError(w, http.StatusForbidden, &APIError{Error: fmt.Sprintf("%s has role read; changing the cluster needs role operate (access.operators, or a token with role operate)", c.Identity), Code: "forbidden"})
			return
		}
		r.Header.Set("X-Raftha-Identity", c.Identity) // for identity(); never trusted from the client
		next.ServeHTTP(w, r)
	})
}

// NewToken returns a random bearer token and its SHA-256 (hex) for
// access.tokens.
func NewToken() (token, sum string, err error) {
	var b [24]byte
	if _, err := randRead(b[:]); err != nil {
		return "", "", err
	}
	token = "rha_" + hex.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(h[:]), nil
}

var randRead = rand.Read
