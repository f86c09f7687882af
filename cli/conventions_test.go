package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// conventionsEnv is a CA (for client flags that must load) and a valid
// member file, in a temporary directory.
type conventionsEnv struct {
	dir, ca, member string
}

func newConventionsEnv(t *testing.T) conventionsEnv {
	t.Helper()
	clearClientEnv(t)
	dir := t.TempDir()
	if _, errs, code := runMain(t, "tls", "ca", "create", "--dir", filepath.Join(dir, "tls")); code != 0 {
		t.Fatalf("tls ca create: %s", errs)
	}
	return conventionsEnv{dir: dir, ca: filepath.Join(dir, "tls", "ca.pem"), member: writeFile(t, dir, "member.yaml", validMember)}
}

// TestExitCodes runs the real CLI app in process over representative
// command lines: 0 on success, 1 when the operation fails, 2 for a usage
// error, which is one line on stderr and nothing on stdout (no help).
func TestExitCodes(t *testing.T) {
	e := newConventionsEnv(t)
	unreachable := []string{"--api", "https://127.0.0.1:1", "--ca-cert", e.ca, "--token", "rha_x"}
	bad := writeFile(t, e.dir, "bad.yaml", strings.Replace(validMember, "heartbeat: 300ms", "heartbeat: 3 seconds", 1))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // on stderr
	}{
		{"ok", []string{"version"}, 0, ""},
		{"ok local command", []string{"config", "check", e.member}, 0, ""},
		{"unknown command", []string{"statsu"}, 2, `unknown command "statsu"`},
		{"unknown subcommand", []string{"members", "lsit"}, 2, `unknown command "lsit"`},
		{"unknown help topic", []string{"help", "statsu"}, 2, `unknown command "statsu": see raftha --help`},
		{"unknown help topic, deep", []string{"group", "help", "lsit"}, 2, `unknown command "lsit": see raftha group --help`},
		{"help topic", []string{"help", "status"}, 0, ""},
		{"help topic, deep", []string{"tls", "cert", "help", "show"}, 0, ""},
		{"unknown flag", []string{"status", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"unknown flag, deep", []string{"tls", "cert", "create", "--dir", e.dir, "--colour", "x"}, 2, "-colour"},
		{"unknown flag before the command", []string{"--bogus", "status"}, 2, "-bogus"},
		{"flag without its value", []string{"status", "--events"}, 2, "flag needs an argument: -events"},
		{"bad duration", []string{"tls", "ca", "create", "--dir", e.dir, "--validity", "90d"}, 2, `invalid value "90d"`},
		{"bad integer", []string{"status", "--events", "many"}, 2, `invalid value "many"`},
		{"missing required flag", []string{"ownership", "transfer", "db"}, 2, "required flag --to not set"},
		{"missing required flag, local", []string{"timing", "explain"}, 2, "required flag --config not set"},
		{"missing argument", []string{"config", "check"}, 2, "config check takes one FILE"},
		{"missing argument, API command", append([]string{"why"}, unreachable...), 2, "why takes one GROUP"},
		{"extra argument", []string{"version", "now"}, 2, "version takes no arguments"},
		{"bad role value", []string{"token", "create", "--name", "x", "--role", "admin"}, 2, `--role "admin"`},
		{"unknown shell", []string{"completion", "tcsh"}, 2, "unknown shell"},
		{"unreachable API", append([]string{"status"}, unreachable...), 1, "127.0.0.1:1"},
		{"unreachable API, change", append([]string{"group", "suspend", "db"}, unreachable...), 1, "127.0.0.1:1"},
		{"no CA", []string{"status"}, 1, "--ca-cert"},
		{"invalid file", []string{"config", "check", bad}, 1, "timing.heartbeat"},
		{"missing file", []string{"config", "check", filepath.Join(e.dir, "absent.yaml")}, 1, "absent.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runMain(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("raftha %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.want)
			}
			if tc.code == 2 {
				if out != "" {
					t.Errorf("usage error printed %d bytes on stdout (help?): %.200q", len(out), out)
				}
				if n := strings.Count(strings.TrimRight(errs, "\n"), "\n"); n != 0 || !strings.HasPrefix(errs, "raftha: ") {
					t.Errorf("usage error is %d lines on stderr, want one 'raftha: ...' line: %q", n+1, errs)
				}
			}
		})
	}
}

// TestExitCodesDocumented: the root --help and the man page state the
// exit codes.
func TestExitCodesDocumented(t *testing.T) {
	help, _, code := runMain(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	man, _, _ := runMain(t, "man")
	for name, text := range map[string]string{"--help": help, "man": man} {
		for _, want := range []string{"Exit status", "0  success", "1  the operation failed", "2  usage error"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not say %q", name, want)
			}
		}
	}
}

// TestClientFlagPlacement: client flags and --json are accepted before
// the command path, between its words and after it (before or after the
// positional arguments), at every depth. A client flag that reached the
// command makes it fail on the unreachable --api address (exit 1), not on
// an undefined flag (exit 2); --json that reached it gives JSON.
func TestClientFlagPlacement(t *testing.T) {
	e := newConventionsEnv(t)
	api := "https://127.0.0.1:1"
	for _, args := range [][]string{
		{"--api", api, "--ca-cert", e.ca, "--token", "t", "status"},
		{"status", "--api", api, "--ca-cert", e.ca, "--token", "t"},
		{"--api=" + api, "status", "--ca-cert=" + e.ca, "--token=t"},
		{"--api", api, "group", "list", "--ca-cert", e.ca, "--token", "t"},
		{"group", "--api", api, "--ca-cert", e.ca, "list", "--token", "t"},
		{"group", "list", "--api", api, "--ca-cert", e.ca, "--token", "t", "--json"},
		{"--json", "--api", api, "--ca-cert", e.ca, "--token", "t", "group", "show", "db"},
		{"group", "show", "--api", api, "db", "--ca-cert", e.ca, "--token", "t"},
		{"group", "show", "db", "--api", api, "--ca-cert", e.ca, "--token", "t"},
		{"--token", "t", "ownership", "--api", api, "transfer", "db", "--to", "n2", "--ca-cert", e.ca},
		{"ownership", "transfer", "--to", "n2", "db", "--api", api, "--ca-cert", e.ca, "--token", "t"},
		{"--ca-cert", e.ca, "cluster", "settings", "--api", api, "show", "--token", "t"},
		{"cluster", "settings", "set", "--lease", "2s", "--api", api, "--ca-cert", e.ca, "--token", "t"},
		{"--api", api, "--ca-cert", e.ca, "--token", "t", "members", "standby", "n1"},
		{"members", "standby", "n1", "--api", api, "--ca-cert", e.ca, "--token", "t"},
	} {
		_, errs, code := runMain(t, args...)
		if code != 1 || !strings.Contains(errs, "127.0.0.1:1") {
			t.Errorf("raftha %s: exit %d, stderr %q; want exit 1 reaching %s", strings.Join(args, " "), code, errs, api)
		}
	}
	for _, args := range [][]string{
		{"--json", "version"},
		{"version", "--json"},
		{"--json", "config", "check", e.member},
		{"config", "--json", "check", e.member},
		{"config", "check", e.member, "--json"},
		{"config", "check", "--json", e.member},
		{"--json", "timing", "explain", "-c", e.member},
		{"timing", "-c", e.member, "explain", "--json"},
	} {
		out, errs, code := runMain(t, args...)
		if code != 0 || !json.Valid([]byte(out)) {
			t.Errorf("raftha %s: exit %d, stderr %q; stdout is not JSON: %.200q", strings.Join(args, " "), code, errs, out)
		}
	}
}

// decodeJSON parses out as JSON into a map, failing the test otherwise.
func decodeJSON(t *testing.T, what, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s: stdout is not a JSON object: %v\n%s", what, err, out)
	}
	return m
}

// hasFields fails the test when m lacks one of the fields.
func hasFields(t *testing.T, what string, m map[string]any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			t.Errorf("%s --json: no field %q in %v", what, f, m)
		}
	}
}

// TestJSONLocalCommands: the commands that need no cluster print JSON
// with the expected fields under --json.
func TestJSONLocalCommands(t *testing.T) {
	e := newConventionsEnv(t)
	run := func(args ...string) string {
		t.Helper()
		out, errs, code := runMain(t, append(args, "--json")...)
		if code != 0 {
			t.Fatalf("raftha %s --json: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	m := decodeJSON(t, "version", run("version"))
	hasFields(t, "version", m, "version")

	m = decodeJSON(t, "config check", run("config", "check", e.member))
	hasFields(t, "config check", m, "file", "ok", "role", "node_id", "members", "heartbeat", "lease", "failover_timeout", "fencing")
	if m["ok"] != true || m["heartbeat"] != "300ms" {
		t.Errorf("config check --json: ok %v, heartbeat %v; want true and \"300ms\"", m["ok"], m["heartbeat"])
	}

	// An invalid file: every problem, with its line, on stdout; exit 1.
	bad := writeFile(t, e.dir, "bad.yaml", strings.NewReplacer("heartbeat: 300ms", "heartbeat: 3 seconds", "  key: tls/n1-key.pem\n", "", "instance_id: i-0123456789abcdef0", "instance_id: i-bogus").Replace(validMember))
	out, errs, code := runMain(t, "config", "check", bad, "--json")
	if code != 1 {
		t.Errorf("config check --json of an invalid file: exit %d, want 1 (%s)", code, errs)
	}
	var res struct {
		OK     bool `json:"ok"`
		Errors []struct {
			Line int    `json:"line"`
			Path string `json:"path"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK {
		t.Fatalf("config check --json of an invalid file: %v, ok %v\n%s", err, res.OK, out)
	}
	paths := map[string]bool{}
	for _, fe := range res.Errors {
		paths[fe.Path] = fe.Line > 0
	}
	for _, p := range []string{"timing.heartbeat", "tls.key", "aws.instance_id"} {
		if !paths[p] {
			t.Errorf("config check --json: no error with a line for %s in %s", p, out)
		}
	}

	m = decodeJSON(t, "timing explain", run("timing", "explain", "-c", e.member))
	hasFields(t, "timing explain", m, "heartbeat", "lease", "failover_timeout", "owner_follower", "owner_leader_extra", "total_owner_follower", "total_owner_leader", "self_fence", "lease_only_wait", "lease_only_wait_terms")

	m = decodeJSON(t, "token create", run("token", "create", "--name", "ci", "--role", "operate"))
	hasFields(t, "token create", m, "name", "role", "token", "sha256")
	if m["role"] != "operate" || !strings.HasPrefix(m["token"].(string), "rha_") {
		t.Errorf("token create --json: %v", m)
	}

	tlsDir := filepath.Join(e.dir, "tls2")
	m = decodeJSON(t, "tls ca create", run("tls", "ca", "create", "--dir", tlsDir))
	hasFields(t, "tls ca create", m, "files")
	m = decodeJSON(t, "tls cert create", run("tls", "cert", "create", "--dir", tlsDir, "--member", "n1", "--ip", "127.0.0.1"))
	hasFields(t, "tls cert create", m, "files")
	out = run("tls", "cert", "show", filepath.Join(tlsDir, "n1.pem"))
	var certs []map[string]any
	if err := json.Unmarshal([]byte(out), &certs); err != nil || len(certs) != 1 {
		t.Fatalf("tls cert show --json: %v\n%s", err, out)
	}
	hasFields(t, "tls cert show", certs[0], "subject", "issuer", "kind", "ips", "uris", "not_before", "not_after", "days_left", "expired")
	if certs[0]["kind"] != "member n1" {
		t.Errorf("tls cert show --json: kind %v, want member n1", certs[0]["kind"])
	}

	groups := writeFile(t, e.dir, "groups.yaml", goodGroups)
	m = decodeJSON(t, "group apply --dry-run", run("group", "apply", "-f", groups, "--dry-run"))
	hasFields(t, "group apply --dry-run", m, "file", "valid", "groups")
	badFile := writeFile(t, e.dir, "bad-groups.yaml", badGroups)
	out, errs, code = runMain(t, "group", "apply", "-f", badFile, "--dry-run", "--json")
	m = decodeJSON(t, "group apply --json of an invalid file", out)
	if code != 1 || m["valid"] != false || len(m["errors"].([]any)) == 0 {
		t.Errorf("group apply --json of an invalid file: exit %d, %v (%s); want exit 1, valid false and the errors", code, m, errs)
	}

	dev := filepath.Join(e.dir, "lock.img")
	if err := os.WriteFile(dev, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	m = decodeJSON(t, "disk lock init", run("disk", "lock", "init", dev))
	hasFields(t, "disk lock init", m, "device", "fresh")
	m = decodeJSON(t, "disk lock show", run("disk", "lock", "show", dev))
	if m["device"] != dev || m["fresh"] != true {
		t.Errorf("disk lock show --json of a zeroed block: %v", m)
	}
}
