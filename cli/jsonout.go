package cli

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/resources/disk"
)

// jsonFlag is --json, which every command that prints a result has: the
// result as one JSON document on stdout instead of text. The shape is the
// API's type where the result comes from the API (api.GroupStatus,
// api.SettingsView, ...), else one of the result types of this file;
// durations are Go duration strings ("1.5s"), times RFC 3339.
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}
}

// writeJSONOut prints v as indented JSON on the command's stdout.
func writeJSONOut(c *cli.Context, v any) error {
	enc := json.NewEncoder(stdout(c))
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// emit prints v as JSON with --json, else calls text with the command's
// stdout.
func emit(c *cli.Context, v any, text func(w io.Writer)) error {
	if c.Bool("json") {
		return writeJSONOut(c, v)
	}
	text(stdout(c))
	return nil
}

// versionResult is `raftha version --json`.
type versionResult struct {
	Version string `json:"version"`
}

// groupActionResult is the --json result of a group command that returns
// no group status (suspend, resume, start, delete).
type groupActionResult struct {
	Group string `json:"group"`
	// Action is what was done: suspended, resumed, started, deleted.
	Action string `json:"action"`
}

// memberRemovedResult is `raftha members remove --json`.
type memberRemovedResult struct {
	Removed string `json:"removed"`
}

// filesResult is the --json result of a command that writes files (tls
// ca create, tls cert create, debug bundle).
type filesResult struct {
	// Files are the paths written.
	Files []string `json:"files"`
	// Errors are what could not be collected (debug bundle).
	Errors []string `json:"errors,omitempty"`
}

// dryRunResult is `raftha group apply --dry-run --json`, and `group
// apply --json` of an invalid file (Valid false, Errors).
type dryRunResult struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	// Groups are the groups in the file, in file order (none applied).
	Groups []string `json:"groups,omitempty"`
	// Errors are the file's problems, each with its line.
	Errors []*yamlstrict.FieldError `json:"errors,omitempty"`
}

// tokenResult is `raftha token create --json`.
type tokenResult struct {
	Name  string   `json:"name"`
	Role  api.Role `json:"role"`
	Token string   `json:"token"`
	// SHA256 is what goes under access.tokens in every member's config.
	SHA256 string `json:"sha256"`
}

// certResult is one certificate of `raftha tls cert show --json`.
type certResult struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Kind      string    `json:"kind"`
	IsCA      bool      `json:"is_ca"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	IPs       []string  `json:"ips,omitempty"`
	URIs      []string  `json:"uris,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// DaysLeft is negative once the certificate has expired.
	DaysLeft int  `json:"days_left"`
	Expired  bool `json:"expired"`
}

func certInfo(cert *x509.Certificate, now time.Time) certResult {
	r := certResult{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Kind: certKind(cert), IsCA: cert.IsCA,
		DNSNames: cert.DNSNames, NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
		DaysLeft: int(cert.NotAfter.Sub(now).Hours() / 24), Expired: now.After(cert.NotAfter)}
	for _, ip := range cert.IPAddresses {
		r.IPs = append(r.IPs, ip.String())
	}
	for _, u := range cert.URIs {
		r.URIs = append(r.URIs, u.String())
	}
	return r
}

// lockResult is `raftha disk lock show|init --json`.
type lockResult struct {
	Device string `json:"device"`
	// Fresh: the block is all zeros (no owner yet); the rest is empty.
	Fresh     bool       `json:"fresh"`
	Group     string     `json:"group,omitempty"`
	Owner     string     `json:"owner,omitempty"`
	Epoch     uint64     `json:"epoch,omitempty"`
	Written   *time.Time `json:"written,omitempty"`
	SlotCount uint32     `json:"slot_count,omitempty"`
}

func lockResultOf(dev string, info disk.LockInfo) lockResult {
	r := lockResult{Device: dev, Fresh: info.Fresh}
	if !info.Fresh {
		w := info.Written.UTC()
		r.Group, r.Owner, r.Epoch, r.Written, r.SlotCount = info.Group, info.Owner, info.Epoch, &w, info.SlotCount
	}
	return r
}
