package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// Role is what an API caller may do.
type Role string

// The API roles.
const (
	// RoleRead may look at the cluster.
	RoleRead Role = "read"
	// RoleOperate may also change it.
	RoleOperate Role = "operate"
)

// Roles lists every API role, least privileged first.
var Roles = []Role{RoleRead, RoleOperate}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// CanChange reports whether r may change the cluster (any call but GET
// and HEAD).
func (r Role) CanChange() bool { return r == RoleOperate }

// Caller is GET /v1/whoami: who made an API request and what they may do.
type Caller struct {
	// Identity is the certificate name, or "token:NAME".
	Identity string `json:"identity"`
	// Role is read or operate.
	Role Role `json:"role"`
}

// NewToken returns a random bearer token and its SHA-256 (hex) for
// access.tokens.
func NewToken() (token, sum string, err error) {
	var b [24]byte
	if _, err := randRead(b[:]); err != nil {
		return "", "", err
	}
	token = "rha_" + hex.EncodeToString(b[:])
	return token, TokenSHA256(token), nil
}

var randRead = rand.Read

// TokenSHA256 is the lowercase hex SHA-256 of token: what access.tokens
// stores instead of the token.
func TokenSHA256(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
