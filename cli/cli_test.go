package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestMain lets the test binary act as raftha: the demo's exec resource
// runs os.Executable() with the hidden demo-app subcommand, and under
// `go test` that executable is this test binary.
func TestMain(m *testing.M) {
	if os.Getenv("RAFTHA_TEST_MAIN") == "1" || (len(os.Args) > 1 && os.Args[1] == "demo-app") {
		os.Exit(Main(os.Args, os.Stderr))
	}
	os.Exit(m.Run())
}

// stdoutMu serialises the os.Stdout swap of runMain.
var stdoutMu sync.Mutex

// runMain runs Main with args (without the program name) and returns what
// it wrote to stdout and stderr, and its exit code. Main builds its own
// app, which writes to os.Stdout, so os.Stdout is swapped for a pipe.
func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, r)
		close(copied)
	}()
	var errb bytes.Buffer
	func() {
		defer func() { os.Stdout = saved }()
		code = Main(append([]string{"raftha"}, args...), &errb)
	}()
	w.Close()
	<-copied
	r.Close()
	return out.String(), errb.String(), code
}

// fileLineRE matches a FILE:LINE: prefix for file base.
func fileLineRE(file string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(file) + `:[0-9]+: `)
}

func TestVersion(t *testing.T) {
	out, errs, code := runMain(t, "version")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if want := "raftha " + api.Version; !strings.HasPrefix(out, want) || strings.TrimSpace(out) == "raftha" {
		t.Fatalf("version printed %q, want %q", out, want)
	}
}

func TestTLSCreateWritesFilesAndRefusesOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	out, errs, code := runMain(t, "tls", "ca", "create", "--dir", dir)
	if code != 0 {
		t.Fatalf("ca create: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, filepath.Join(dir, "ca.pem")) {
		t.Errorf("ca create output %q does not name ca.pem", out)
	}
	// interspersed flags: --ip after the other flags, as operators type them
	out, errs, code = runMain(t, "tls", "cert", "create", "--dir", dir, "--member", "n1", "--ip", "127.0.0.1")
	if code != 0 {
		t.Fatalf("cert create: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, filepath.Join(dir, "n1-key.pem")) {
		t.Errorf("cert create output %q does not name n1-key.pem", out)
	}
	files := []string{"ca.pem", "ca-key.pem", "n1.pem", "n1-key.pem"}
	before := map[string][]byte{}
	for _, f := range files {
		p := filepath.Join(dir, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s not written: %v", f, err)
		}
		before[f] = b
		if strings.HasSuffix(f, "-key.pem") {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v; private keys must not be readable by others", f, st.Mode().Perm())
			}
		}
	}
	blk, _ := pem.Decode(before["n1.pem"])
	if blk == nil {
		t.Fatal("n1.pem is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("n1.pem IP SANs = %v, want [127.0.0.1]", cert.IPAddresses)
	}

	// Neither command replaces an existing file.
	if _, errs, code := runMain(t, "tls", "ca", "create", "--dir", dir); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("second ca create: exit %d, stderr %q; want a refusal naming the existing file", code, errs)
	}
	if _, errs, code := runMain(t, "tls", "cert", "create", "--dir", dir, "--member", "n1", "--ip", "127.0.0.1"); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("second cert create: exit %d, stderr %q; want a refusal naming the existing file", code, errs)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(b, before[f]) {
			t.Errorf("%s changed after a refused create (err %v)", f, err)
		}
	}

	// A bad --ip is a usage error.
	if _, errs, code := runMain(t, "tls", "cert", "create", "--dir", dir, "--member", "n2", "--ip", "not-an-ip"); code != 2 || !strings.Contains(errs, "not-an-ip") {
		t.Errorf("bad --ip: exit %d, stderr %q; want exit 2 naming the value", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "n2.pem")); !os.IsNotExist(err) {
		t.Errorf("n2.pem written despite a bad --ip (stat err %v)", err)
	}
	// --dir is required.
	if _, errs, code := runMain(t, "tls", "ca", "create"); code != 2 || !strings.Contains(errs, "dir") {
		t.Errorf("ca create without --dir: exit %d, stderr %q; want exit 2", code, errs)
	}
}

// validMember is a member config that passes validation. Its TLS files
// need not exist: config check validates settings, the agent reads files.
const validMember = `# test member
node_id: n1
role: node
data_dir: data
bind: 127.0.0.1:17400
api: 127.0.0.1:17401
tls:
  ca: tls/ca.pem
  cert: tls/n1.pem
  key: tls/n1-key.pem
members:
  - {id: n1, address: 127.0.0.1:17400, role: node}
  - {id: n2, address: 127.0.0.1:17410, role: node}
  - {id: w1, address: 127.0.0.1:17420, role: witness}
timing:
  heartbeat: 300ms
  lease: 1500ms
  failover_timeout: 2s
fencing:
  mode: aws-stop
aws:
  region: ap-northeast-1
  instance_id: i-0123456789abcdef0
`

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", validMember)
	out, errs, code := runMain(t, "config", "check", good)
	if code != 0 {
		t.Fatalf("valid file: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, good+": OK:") || !strings.Contains(out, "3 members") {
		t.Errorf("valid file: output %q, want %q and the member count", out, good+": OK:")
	}

	cases := []struct {
		name, data string
		want       []string // substrings of stderr besides FILE:LINE:
	}{
		{"unknown-key.yaml", strings.Replace(validMember, "role: node\n", "role: node\nbogus: 1\n", 1), []string{`unknown key "bogus"`}},
		{"bad-duration.yaml", strings.Replace(validMember, "heartbeat: 300ms", "heartbeat: 3 seconds", 1), []string{"timing.heartbeat", "3 seconds"}},
		{"missing-key.yaml", strings.Replace(validMember, "  key: tls/n1-key.pem\n", "", 1), []string{"tls.key", "required"}},
		{"bad-timing.yaml", strings.Replace(validMember, "failover_timeout: 2s", "failover_timeout: 1s", 1), []string{"timing.failover_timeout", "greater than timing.lease"}},
		{"no-instance.yaml", strings.Replace(validMember, "  instance_id: i-0123456789abcdef0\n", "", 1), []string{"aws.instance_id", "lease-only"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.data)
			out, errs, code := runMain(t, "config", "check", p)
			if code == 0 {
				t.Fatalf("exit 0 for an invalid file; stdout %q", out)
			}
			if !fileLineRE(p).MatchString(errs) {
				t.Errorf("stderr %q has no %s:LINE: prefix", errs, p)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not contain %q", errs, w)
				}
			}
			if strings.Contains(out, "OK") {
				t.Errorf("stdout %q says OK for an invalid file", out)
			}
		})
	}

	// A missing top-level key has no line of its own; the message still
	// names the file and the key.
	p := writeFile(t, dir, "missing-node-id.yaml", strings.Replace(validMember, "node_id: n1\n", "", 1))
	if _, errs, code := runMain(t, "config", "check", p); code == 0 || !strings.Contains(errs, p+":") || !strings.Contains(errs, "node_id") {
		t.Errorf("missing node_id: exit %d, stderr %q", code, errs)
	}

	if _, errs, code := runMain(t, "config", "check"); code != 2 || !strings.Contains(errs, "FILE") {
		t.Errorf("config check without FILE: exit %d, stderr %q; want exit 2", code, errs)
	}
	if _, errs, code := runMain(t, "config", "check", filepath.Join(dir, "absent.yaml")); code != 1 || !strings.Contains(errs, "absent.yaml") {
		t.Errorf("config check of a missing file: exit %d, stderr %q", code, errs)
	}
}

// TestDeployExamples keeps deploy/ honest: the example member configs pass
// config check and the example group file passes a dry run.
func TestDeployExamples(t *testing.T) {
	for _, f := range []string{"node1.yaml", "node2.yaml", "witness.yaml"} {
		p := filepath.Join("..", "deploy", f)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("deploy/%s: %v", f, err)
		}
		out, errs, code := runMain(t, "config", "check", p)
		if code != 0 || !strings.Contains(out, ": OK:") {
			t.Errorf("config check deploy/%s: exit %d, stdout %q, stderr %q", f, code, out, errs)
		}
	}
	p := filepath.Join("..", "deploy", "groups.example.yaml")
	if out, errs, code := runMain(t, "group", "apply", "-f", p, "--dry-run"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("group apply --dry-run deploy/groups.example.yaml: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestInterspersed(t *testing.T) {
	app := NewApp()
	cases := []struct {
		in, want []string
	}{
		{ // the operator's word order: flags after the group name
			[]string{"raftha", "ownership", "transfer", "db", "--to", "n2"},
			[]string{"raftha", "ownership", "transfer", "--to", "n2", "db"},
		},
		{ // flag=value keeps its value
			[]string{"raftha", "ownership", "transfer", "db", "--to=n2", "--timeout", "30s"},
			[]string{"raftha", "ownership", "transfer", "--to=n2", "--timeout", "30s", "db"},
		},
		{ // "--" ends flag parsing: what follows stays positional
			[]string{"raftha", "ownership", "transfer", "db", "--", "--to", "n2"},
			[]string{"raftha", "ownership", "transfer", "db", "--", "--to", "n2"},
		},
		{ // flags before "--" still move, the rest stays as it is
			[]string{"raftha", "ownership", "transfer", "--to", "n2", "--", "-db"},
			[]string{"raftha", "ownership", "transfer", "--to", "n2", "--", "-db"},
		},
		{ // a bool flag takes no value
			[]string{"raftha", "group", "apply", "--dry-run", "x.yaml", "-f", "g.yaml"},
			[]string{"raftha", "group", "apply", "--dry-run", "-f", "g.yaml", "x.yaml"},
		},
		{ // a command with subcommands is left alone
			[]string{"raftha", "ownership", "--help"},
			[]string{"raftha", "ownership", "--help"},
		},
		{ // global flags before the command
			[]string{"raftha", "--help", "members", "remove", "n3", "--api", "https://10.0.1.10:7401"},
			[]string{"raftha", "--help", "members", "remove", "--api", "https://10.0.1.10:7401", "n3"},
		},
		{ // a command's flags before the command path move after it
			[]string{"raftha", "--api", "https://10.0.1.10:7401", "ownership", "transfer", "db", "--to", "n2"},
			[]string{"raftha", "ownership", "transfer", "--api", "https://10.0.1.10:7401", "--to", "n2", "db"},
		},
		{ // with =, and a value that is also a command name
			[]string{"raftha", "--api=https://x:1", "--token", "group", "group", "list"},
			[]string{"raftha", "group", "list", "--api=https://x:1", "--token", "group"},
		},
		{ // between the words of the path
			[]string{"raftha", "group", "--api", "https://x:1", "list", "--json"},
			[]string{"raftha", "group", "list", "--api", "https://x:1", "--json"},
		},
		{
			[]string{"raftha"},
			[]string{"raftha"},
		},
	}
	for _, tc := range cases {
		got := interspersed(app, append([]string(nil), tc.in...))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("interspersed(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestTransferFlagAfterGroup checks the rewrite end to end: --to after the
// group name reaches the command (it fails later, for want of a CA, not
// for want of --to).
func TestTransferFlagAfterGroup(t *testing.T) {
	clearClientEnv(t)
	_, errs, code := runMain(t, "ownership", "transfer", "db", "--to", "n2")
	if code == 0 || strings.Contains(errs, "required flag") || !strings.Contains(errs, "--ca-cert") {
		t.Errorf("exit %d, stderr %q; want the missing --ca-cert error, not a missing --to", code, errs)
	}
	if _, errs, code := runMain(t, "ownership", "transfer", "db"); code != 2 || !strings.Contains(errs, "required flag --to") {
		t.Errorf("without --to: exit %d, stderr %q; want exit 2 naming the flag", code, errs)
	}
}

const badGroups = `groups:
  - name: db
    nodes: [n1, n2]
    colour: blue
    resources:
      - name: app
        type: exec
        run: sleep 100
        timeout: soon
      - name: vip
        type: teleport
`

const goodGroups = `groups:
  - name: db
    nodes: [n1, n2]
    failback: false
    resources:
      - name: app
        type: exec
        start: /usr/local/bin/app-start
        stop: /usr/local/bin/app-stop
        check: /usr/local/bin/app-check
        timeout: 20s
        dir: /tmp
        env: {APP_MODE: primary}
`

func TestGroupApplyDryRun(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", badGroups)
	out, errs, code := runMain(t, "group", "apply", "-f", bad, "--dry-run")
	if code == 0 {
		t.Fatalf("bad file: exit 0, stdout %q", out)
	}
	if !strings.Contains(errs, "nothing was applied") {
		t.Errorf("stderr %q does not say nothing was applied", errs)
	}
	for _, w := range []string{bad + ":4: ", `unknown key "colour"`, "timeout", `unknown resource type "teleport"`, bad + ":11: "} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr %q does not contain %q", errs, w)
		}
	}

	good := writeFile(t, dir, "good.yaml", goodGroups)
	out, errs, code = runMain(t, "group", "apply", "-f", good, "--dry-run")
	if code != 0 || !strings.Contains(out, good+": valid") {
		t.Errorf("good file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// The flag order does not matter.
	if _, errs, code := runMain(t, "group", "apply", "--dry-run", "-f", good); code != 0 {
		t.Errorf("--dry-run first: exit %d, stderr %q", code, errs)
	}
	// start and run together are refused.
	both := writeFile(t, dir, "both.yaml", strings.Replace(goodGroups, "        start: /usr/local/bin/app-start\n", "        start: /usr/local/bin/app-start\n        run: sleep 100\n", 1))
	if _, errs, code := runMain(t, "group", "apply", "-f", both, "--dry-run"); code == 0 || !fileLineRE(both).MatchString(errs) || !strings.Contains(errs, "run cannot be combined") {
		t.Errorf("start+run: exit %d, stderr %q", code, errs)
	}
	// -f is required.
	if _, errs, code := runMain(t, "group", "apply", "--dry-run"); code != 2 || !strings.Contains(errs, "file") {
		t.Errorf("without -f: exit %d, stderr %q; want exit 2", code, errs)
	}
}

func clearClientEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"RAFTHA_API", "RAFTHA_CA_CERT", "RAFTHA_CLIENT_CERT", "RAFTHA_CLIENT_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestClientNeedsCACert(t *testing.T) {
	clearClientEnv(t)
	for _, args := range [][]string{
		{"status"},
		{"group", "list"},
		{"members", "list"},
		{"group", "delete", "db"},
	} {
		out, errs, code := runMain(t, args...)
		if code == 0 {
			t.Errorf("%q: exit 0 without --ca-cert (stdout %q)", args, out)
		}
		if !strings.Contains(errs, "--ca-cert (or RAFTHA_CA_CERT) is required") {
			t.Errorf("%q: stderr %q does not explain the missing --ca-cert", args, errs)
		}
	}
	// A good file without --dry-run goes to the API, and so needs the CA.
	good := writeFile(t, t.TempDir(), "good.yaml", goodGroups)
	if _, errs, code := runMain(t, "group", "apply", "-f", good); code == 0 || !strings.Contains(errs, "--ca-cert") {
		t.Errorf("group apply without --ca-cert: exit %d, stderr %q", code, errs)
	}
	// With a CA but no client certificate, the client certificate is named.
	if _, errs, code := runMain(t, "status", "--ca-cert", "ca.pem"); code == 0 || !strings.Contains(errs, "--client-cert") {
		t.Errorf("status without --client-cert: exit %d, stderr %q", code, errs)
	}
	// There is no plaintext mode.
	if _, errs, code := runMain(t, "status", "--api", "http://127.0.0.1:7401"); code == 0 || !strings.Contains(errs, "HTTPS only") {
		t.Errorf("http:// API: exit %d, stderr %q", code, errs)
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	if _, errs, code := runMain(t, "version", "--bogus"); code != 2 {
		t.Errorf("unknown flag: exit %d, stderr %q; want 2", code, errs)
	}
}
