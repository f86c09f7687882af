package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
)

// CertKind says what a certificate of the cluster CA is for. It is
// carried by the certificate itself, as a URI subject alternative name
// raftha://KIND/NAME, so that a member certificate and an operator
// certificate with the same name are told apart.
type CertKind string

const (
	// KindMember is a member's certificate (URI SAN raftha://member/ID):
	// the only kind admitted to the member port, where it is that member.
	KindMember CertKind = "member"
	// KindOperator is an operator's or client's certificate (URI SAN
	// raftha://operator/NAME): for the HTTP API only.
	KindOperator CertKind = "operator"
	// KindLegacy is a certificate without a raftha URI SAN, as raftha
	// issued before certificate kinds: its identity is its common name.
	// The member port admits one only while the member's configuration
	// allows legacy member certificates (tls.allow_legacy_member_certs),
	// for the migration. CreateCert issues one only when asked for
	// KindLegacy explicitly (tests of the migration).
	KindLegacy CertKind = "legacy"
)

// identityScheme is the URI scheme of the identity SAN.
const identityScheme = "raftha"

// ErrBadIdentity means a certificate carries a malformed raftha identity
// (more than one raftha URI SAN, an unknown kind, an invalid name): it is
// no identity at all.
var ErrBadIdentity = errors.New("malformed raftha identity in certificate")

// Identity is who a certificate of the cluster CA names: its kind and its
// name (the member id for KindMember).
type Identity struct {
	// Kind is the certificate's kind.
	Kind CertKind
	// Name is the member id or operator name; for KindLegacy the common
	// name.
	Name string
}

// String is KIND/NAME.
func (id Identity) String() string { return string(id.Kind) + "/" + id.Name }

// IdentityURI is the URI subject alternative name CreateCert writes for a
// certificate of kind k named name: raftha://KIND/NAME.
func IdentityURI(k CertKind, name string) *url.URL {
	return &url.URL{Scheme: identityScheme, Host: string(k), Path: "/" + name}
}

// CertIdentityOf returns the identity a certificate carries: its raftha
// URI SAN when it has one, else KindLegacy with its common name. A nil
// certificate or a malformed identity yields ErrBadIdentity (wrapped).
func CertIdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrBadIdentity)
	}
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != identityScheme {
			continue
		}
		k := CertKind(u.Host)
		name := u.Path
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		if (k != KindMember && k != KindOperator) || ValidateName(name) != nil || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Identity{}, fmt.Errorf("%w: %q", ErrBadIdentity, u.String())
		}
		found = append(found, Identity{Kind: k, Name: name})
	}
	switch len(found) {
	case 0:
		return Identity{Kind: KindLegacy, Name: cert.Subject.CommonName}, nil
	case 1:
		return found[0], nil
	}
	return Identity{}, fmt.Errorf("%w: %d raftha identities in one certificate", ErrBadIdentity, len(found))
}
