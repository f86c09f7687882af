package cli

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/transport"
)

// errNoCertificate: the file holds no PEM certificate.
var errNoCertificate = errors.New("no PEM CERTIFICATE block")

// certShowCommand is `raftha tls cert show FILE`.
func certShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a certificate's subject, SANs, issuer, validity and kind (member or operator)",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{jsonFlag()},
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
			now := time.Now()
			if c.Bool("json") {
				out := make([]certResult, len(certs))
				for i, cert := range certs {
					out[i] = certInfo(cert, now)
				}
				return writeJSONOut(c, out)
			}
			for i, cert := range certs {
				if i > 0 {
					fmt.Fprintln(stdout(c))
				}
				showCert(stdout(c), cert, now)
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
	id, err := transport.CertIdentityOf(cert)
	var kind string
	switch {
	case err != nil:
		kind = "invalid: " + err.Error()
	case id.Kind == transport.KindLegacy:
		kind = "unmarked (no raftha://member/ID or raftha://operator/NAME URI SAN: a legacy certificate)"
	default:
		kind = string(id.Kind) + " " + id.Name
	}
	if cert.IsCA {
		if id.Kind == transport.KindLegacy {
			return "CA"
		}
		return "CA; " + kind
	}
	return kind
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
