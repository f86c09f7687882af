package cli

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// errNoCertificate: the file holds no PEM certificate.
var errNoCertificate = errors.New("no PEM CERTIFICATE block")

// URI SANs that mark what a certificate is for: raftha://member/ID and
// raftha://operator/NAME.
const (
	certURIScheme   = "raftha"
	certURIMember   = "member"
	certURIOperator = "operator"
)

// certShowCommand is `raftha tls cert show FILE`.
func certShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a certificate's subject, SANs, issuer, validity and kind (member or operator)",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("tls cert show takes one certificate FILE")
			}
			name := c.Args().First()
			b, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			certs, err := parseCertsPEM(b)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for i, cert := range certs {
				if i > 0 {
					fmt.Fprintln(stdout(c))
				}
				showCert(stdout(c), cert, time.Now())
			}
			return nil
		},
	}
}

func parseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, errNoCertificate
	}
	return out, nil
}

// certKind says what cert is for, from its URI SANs and CA flag.
func certKind(cert *x509.Certificate) string {
	var kinds []string
	for _, u := range cert.URIs {
		if k, ok := raftKind(u); ok {
			kinds = append(kinds, k)
		}
	}
	switch {
	case cert.IsCA:
		kinds = append([]string{"CA"}, kinds...)
	case len(kinds) == 0:
		kinds = append(kinds, "unmarked (no raftha://member/ID or raftha://operator/NAME URI SAN)")
	}
	return strings.Join(kinds, "; ")
}

func raftKind(u *url.URL) (string, bool) {
	id := strings.TrimPrefix(u.Path, "/")
	if u.Scheme != certURIScheme || id == "" {
		return "", false
	}
	switch u.Host {
	case certURIMember:
		return "member " + id, true
	case certURIOperator:
		return "operator " + id, true
	}
	return "", false
}

func showCert(w io.Writer, cert *x509.Certificate, now time.Time) {
	row := func(k, v string) { fmt.Fprintf(w, "%-12s %s\n", k+":", v) }
	row("subject", cert.Subject.String())
	row("issuer", cert.Issuer.String())
	row("kind", certKind(cert))
	var sans []string
	sans = append(sans, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, cert.EmailAddresses...)
	if len(sans) == 0 {
		sans = []string{"(none)"}
	}
	row("SANs", strings.Join(sans, ", "))
	row("not before", cert.NotBefore.UTC().Format(time.RFC3339))
	row("not after", cert.NotAfter.UTC().Format(time.RFC3339))
	days := int(cert.NotAfter.Sub(now).Hours() / 24)
	switch {
	case now.After(cert.NotAfter):
		row("expiry", fmt.Sprintf("EXPIRED %d days ago", -days))
	case now.Before(cert.NotBefore):
		row("expiry", fmt.Sprintf("not yet valid; expires in %d days", days))
	default:
		row("expiry", fmt.Sprintf("in %d days", days))
	}
}
