package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
)

// validConfigYAML is a complete valid member file. The tests edit it, so
// its line numbers matter: see the comments.
const validConfigYAML = `node_id: n1
role: node
data_dir: /var/lib/raftha
bind: 10.0.1.10:7000
api: 10.0.1.10:7443
tls:
  ca: /etc/raftha/ca.pem
  cert: /etc/raftha/n1.pem
  key: /etc/raftha/n1-key.pem
members:
  - id: n1
    address: 10.0.1.10:7000
    role: node
  - id: n2
    address: 10.0.2.10:7000
    role: node
  - id: w1
    address: 10.0.3.10:7000
    role: witness
aws:
  region: ap-northeast-1
  instance_id: i-0123456789abcdef0
timing:
  heartbeat: 300ms
  lease: 1500ms
  failover_timeout: 2s
fencing:
  mode: aws-stop
  stop_deadline: 10s
  self_fence_action: reboot
log_level: info
access:
  operators: [ops]
`

// Line numbers in validConfigYAML.
const (
	lineNodeID    = 1
	lineRole      = 2
	lineDataDir   = 3
	lineBind      = 4
	lineTLS       = 6
	lineMembers   = 10
	lineMember0   = 11
	lineMember1   = 14
	lineMember2   = 17
	lineAWS       = 20
	lineInstance  = 22
	lineTiming    = 23
	lineHeartbeat = 24
	lineLease     = 25
	lineFailover  = 26
	lineMode      = 28
)

// wantErr and checkErrs are shared with the yamlstrict tests.
type wantErr yamlstricttest.WantErr

var checkErrs = yamlstricttest.CheckErrs[wantErr]

var asErrorList = yamlstricttest.AsErrorList

// edit applies old->new replacements to validConfigYAML, failing the test
// when one does not apply.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := validConfigYAML
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in the valid file", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestParseConfigValid(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	c, errs := ParseConfig([]byte(validConfigYAML))
	if errs != nil {
		t.Fatal(errs)
	}
	want := &Config{
		NodeID:    "n1",
		Role:      RoleNode,
		DataDir:   "/var/lib/raftha",
		Bind:      "10.0.1.10:7000",
		Advertise: "10.0.1.10:7000",
		API:       "10.0.1.10:7443",
		TLS:       TLSConfig{CA: "/etc/raftha/ca.pem", Cert: "/etc/raftha/n1.pem", Key: "/etc/raftha/n1-key.pem"},
		Members: []MemberConfig{
			{ID: "n1", Address: "10.0.1.10:7000", Role: RoleNode},
			{ID: "n2", Address: "10.0.2.10:7000", Role: RoleNode},
			{ID: "w1", Address: "10.0.3.10:7000", Role: RoleWitness},
		},
		AWS: AWSConfig{Region: "ap-northeast-1", InstanceID: "i-0123456789abcdef0", CallTimeout: Duration(10 * time.Second)},
		Timing: TimingConfig{
			Heartbeat:       Duration(300 * time.Millisecond),
			Lease:           Duration(1500 * time.Millisecond),
			FailoverTimeout: Duration(2 * time.Second),
		},
		Fencing: FencingConfig{
			Mode:            "aws-stop",
			StopDeadline:    Duration(10 * time.Second),
			SelfFenceAction: "reboot",
			SysrqTrigger:    "/proc/sysrq-trigger",
			StopTimeout:     Duration(5 * time.Minute),
		},
		LogLevel: "info",
		Access:   AccessConfig{Operators: []string{"ops"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings for a 3-member cluster: %q", w)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c, errs := ParseConfig([]byte(validConfigYAML))
	if errs != nil {
		t.Fatal(errs)
	}
	c.Fencing.Watchdog, c.Fencing.WatchdogTimeout = "/dev/watchdog0", Duration(10*time.Second)
	c.AWS.Endpoint = "http://127.0.0.1:5000"
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "lease: 1.5s") {
		t.Errorf("durations not written as strings:\n%s", out)
	}
	back, errs := ParseConfig(out)
	if errs != nil {
		t.Fatalf("re-reading marshalled config: %v\n%s", errs, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the config:\n got  %+v\n want %+v", back, c)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	src := `node_id: w1
role: witness
data_dir: /d
bind: 10.0.3.10:7000
api: 0.0.0.0:7443
tls: {ca: ca.pem, cert: c.pem, key: k.pem}
members:
  - {id: n1, address: 10.0.1.10:7000, role: node}
  - {id: n2, address: 10.0.2.10:7000, role: node}
  - {id: w1, address: 10.0.3.10:7000, role: witness}
`
	c, errs := ParseConfig([]byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	if c.Advertise != "10.0.3.10:7000" {
		t.Errorf("advertise = %q", c.Advertise)
	}
	if c.Timing != (TimingConfig{Duration(300 * time.Millisecond), Duration(1500 * time.Millisecond), Duration(2 * time.Second)}) {
		t.Errorf("timing = %+v", c.Timing)
	}
	if c.Fencing != (FencingConfig{Mode: "aws-stop", StopDeadline: Duration(10 * time.Second), SelfFenceAction: "reboot", SysrqTrigger: "/proc/sysrq-trigger", StopTimeout: Duration(5 * time.Minute)}) {
		t.Errorf("fencing = %+v", c.Fencing)
	}
	if c.LogLevel != "info" || c.AWS.Region != "eu-west-1" {
		t.Errorf("log_level %q region %q", c.LogLevel, c.AWS.Region)
	}
	if c.TLS.CA != "ca.pem" {
		t.Errorf("ParseConfig resolved a path: %q", c.TLS.CA)
	}

	t.Setenv("AWS_REGION", "us-east-1")
	var d Config
	d.SetDefaults()
	if d.AWS.Region != "us-east-1" || d.Advertise != "" {
		t.Errorf("region %q advertise %q", d.AWS.Region, d.Advertise)
	}
	d = Config{Bind: "0.0.0.0:7000", AWS: AWSConfig{Region: "ap-south-1"}}
	d.SetDefaults()
	if d.Advertise != "" || d.AWS.Region != "ap-south-1" {
		t.Errorf("advertise %q defaulted from a wildcard bind, region %q", d.Advertise, d.AWS.Region)
	}
	d = Config{Bind: "[::]:7000"}
	if d.SetDefaults(); d.Advertise != "" {
		t.Errorf("advertise %q defaulted from [::]", d.Advertise)
	}
	d = Config{Bind: ":7000"}
	if d.SetDefaults(); d.Advertise != "" {
		t.Errorf("advertise %q defaulted from :7000", d.Advertise)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "unknown top-level key",
			src:  edit(t, "log_level: info\n", "log_level: info\nloglevel: debug\n"),
			want: []wantErr{{32, "", `unknown key "loglevel" (expected one of: node_id, role, data_dir, bind, advertise, api, tls, members, aws, timing, fencing, log_level, log_format, access, health, hooks)`}},
		},
		{
			name: "unknown nested key",
			src:  edit(t, "  heartbeat: 300ms", "  heartbeet: 300ms"),
			want: []wantErr{{lineHeartbeat, "", `unknown key "heartbeet" in timing (expected one of: heartbeat, lease, failover_timeout)`}},
		},
		{
			name: "unknown keys everywhere, all reported",
			src:  edit(t, "  ca: ", "  cacert: ", "    address: 10.0.2.10:7000", "    addr: 10.0.2.10:7000", "  mode: aws-stop", "  mode: aws-stop\n  stonith: yes"),
			want: []wantErr{
				{7, "", `unknown key "cacert" in tls (expected one of: ca, cert, key, allow_legacy_member_certs)`},
				{15, "", `unknown key "addr" in members[1] (expected one of: id, address, role)`},
				{29, "", `unknown key "stonith" in fencing (expected one of: mode, stop_deadline, self_fence_action, sysrq_trigger, watchdog, stop_timeout, watchdog_timeout)`},
			},
		},
		{
			name: "bad duration",
			src:  edit(t, "  lease: 1500ms", "  lease: 5"),
			want: []wantErr{{lineLease, "timing.lease", `expected a duration like 500ms or 3s, got "5"`}},
		},
		{
			name: "negative duration",
			src:  edit(t, "  stop_deadline: 10s", "  stop_deadline: -10s"),
			want: []wantErr{{29, "fencing.stop_deadline", `must not be negative, got "-10s"`}},
		},
		{
			name: "wrong shape",
			src:  edit(t, "log_level: info", "log_level: [info]", "  - id: w1\n", "  - id: {w: 1}\n"),
			want: []wantErr{
				{lineMember2, "members[2].id", "expected a string, got a mapping"},
				{31, "log_level", "expected a string, got a list"},
			},
		},
		{
			name: "duplicate key",
			src:  edit(t, "  lease: 1500ms\n", "  lease: 1500ms\n  lease: 2s\n"),
			want: []wantErr{{lineLease + 1, "", `duplicate key "lease" in timing (first at line 25)`}},
		},
		{
			name: "bad bind address",
			src:  edit(t, "bind: 10.0.1.10:7000", "bind: 10.0.1.10"),
			want: []wantErr{{lineBind, "bind", `expected host:port (e.g. 10.0.1.10:7000), got "10.0.1.10"`}},
		},
		{
			name: "bad port",
			src:  edit(t, "api: 10.0.1.10:7443", "api: 10.0.1.10:99999"),
			want: []wantErr{{5, "api", `port must be 1-65535, got "99999"`}},
		},
		{
			name: "bad host",
			src:  edit(t, "    address: 10.0.2.10:7000", "    address: 10.0.2.300:7000"),
			want: []wantErr{{15, "members[1].address", `host "10.0.2.300" is neither an IP address nor a valid hostname`}},
		},
		{
			name: "wildcard bind needs advertise",
			src:  edit(t, "bind: 10.0.1.10:7000", "bind: 0.0.0.0:7000"),
			want: []wantErr{{0, "advertise", "required when bind listens on every address (0.0.0.0:7000)"}},
		},
		{
			name: "advertise must be concrete",
			src:  edit(t, "bind: 10.0.1.10:7000", "bind: 0.0.0.0:7000\nadvertise: '[::]:7000'"),
			want: []wantErr{{5, "advertise", `must name an address peers can reach, not "[::]:7000"`}},
		},
		{
			name: "missing top-level key",
			src:  edit(t, "data_dir: /var/lib/raftha\n", ""),
			want: []wantErr{{0, "data_dir", "required"}},
		},
		{
			name: "missing nested key points at its section",
			src:  edit(t, "  key: /etc/raftha/n1-key.pem\n", ""),
			want: []wantErr{{lineTLS, "tls.key", "required: raftha has no plaintext mode"}},
		},
		{
			name: "missing members",
			src:  edit(t, "members:\n  - id: n1\n    address: 10.0.1.10:7000\n    role: node\n  - id: n2\n    address: 10.0.2.10:7000\n    role: node\n  - id: w1\n    address: 10.0.3.10:7000\n    role: witness\n", ""),
			want: []wantErr{{0, "members", "required: list every initial voter"}},
		},
		{
			name: "missing member field points at the item",
			src:  edit(t, "    role: witness\n", ""),
			want: []wantErr{{lineMember2, "members[2].role", "required: node or witness"}},
		},
		{
			name: "duplicate member ids",
			src:  edit(t, "  - id: w1", "  - id: n2"),
			want: []wantErr{{lineMember2, "members[2].id", `duplicate id "n2" (also members[1])`}},
		},
		{
			name: "duplicate member addresses",
			src:  edit(t, "    address: 10.0.3.10:7000", "    address: 10.0.2.10:7000"),
			want: []wantErr{{18, "members[2].address", `duplicate address "10.0.2.10:7000" (also members[1])`}},
		},
		{
			name: "self not in members",
			src:  edit(t, "node_id: n1", "node_id: n9"),
			want: []wantErr{{lineMembers, "members", `this member (node_id "n9") is not listed: add {id: n9, address: 10.0.1.10:7000, role: node}`}},
		},
		{
			name: "self listed with another address",
			src:  edit(t, "bind: 10.0.1.10:7000", "bind: 10.0.1.11:7000"),
			want: []wantErr{{12, "members[0].address", `expected "10.0.1.11:7000" (this member's advertise address), got "10.0.1.10:7000"`}},
		},
		{
			name: "self listed with another role",
			src:  edit(t, "role: node\n", "role: witness\n"),
			want: []wantErr{{13, "members[0].role", `expected "witness" (this member's role), got "node"`}},
		},
		{
			name: "bad roles",
			src:  edit(t, "role: node\n", "role: master\n", "    role: witness", "    role: arbiter"),
			want: []wantErr{
				{lineRole, "role", `must be node or witness, got "master"`},
				{19, "members[2].role", `must be node or witness, got "arbiter"`},
			},
		},
		{
			name: "no node members",
			src: edit(t, "role: node\n", "role: witness\n", "    role: node\n", "    role: witness\n", "    role: node\n", "    role: witness\n",
				"  - id: w1\n    address: 10.0.3.10:7000\n    role: witness\n", ""),
			want: []wantErr{{lineMembers, "members", "no member has role node"}},
		},
		{
			name: "bad node ids",
			src:  edit(t, "node_id: n1", "node_id: -n1", "  - id: n2", "  - id: n 2"),
			want: []wantErr{
				{lineNodeID, "node_id", `must be 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit, got "-n1"`},
				{lineMember1, "members[1].id", `got "n 2"`},
			},
		},
		{
			name: "heartbeat too short",
			src:  edit(t, "  heartbeat: 300ms", "  heartbeat: 10ms"),
			want: []wantErr{{lineHeartbeat, "timing.heartbeat", "must be at least 20ms, got 10ms"}},
		},
		{
			name: "lease shorter than three heartbeats",
			src:  edit(t, "  heartbeat: 300ms", "  heartbeat: 500ms", "  lease: 1500ms", "  lease: 1s"),
			want: []wantErr{{lineLease, "timing.lease", "timing.lease (1s) must be at least 3 × timing.heartbeat (500ms): a lease must survive two lost heartbeats"}},
		},
		{
			name: "failover timeout not above lease",
			src:  edit(t, "  failover_timeout: 2s", "  failover_timeout: 1.5s"),
			want: []wantErr{{lineFailover, "timing.failover_timeout", "timing.failover_timeout (1.5s) must be greater than timing.lease (1.5s)"}},
		},
		{
			name: "relation error on a defaulted key points at the section",
			src:  edit(t, "  lease: 1500ms\n", "", "  heartbeat: 300ms", "  heartbeat: 600ms", "  failover_timeout: 2s", "  failover_timeout: 5s"),
			want: []wantErr{{lineTiming, "timing.lease", "timing.lease (1.5s) must be at least 3 × timing.heartbeat (600ms)"}},
		},
		{
			name: "lease-only needs lease plus a heartbeat",
			src:  edit(t, "  mode: aws-stop", "  mode: lease-only\n  watchdog: none", "  failover_timeout: 2s", "  failover_timeout: 1.7s"),
			want: []wantErr{{lineFailover, "timing.failover_timeout", "timing.failover_timeout (1.7s) must be at least timing.lease + timing.heartbeat (1.5s + 300ms = 1.8s) with fencing.mode lease-only"}},
		},
		{
			name: "aws-stop node needs an instance id",
			src:  edit(t, "  instance_id: i-0123456789abcdef0\n", ""),
			want: []wantErr{{lineAWS, "aws.instance_id", "fencing.mode aws-stop needs aws.instance_id (an i-... id or auto) on every node; set fencing.mode: lease-only where there is no EC2 API"}},
		},
		{
			name: "bad instance id",
			src:  edit(t, "  instance_id: i-0123456789abcdef0", "  instance_id: i-XYZ"),
			want: []wantErr{{lineInstance, "aws.instance_id", `must be auto or an EC2 instance id like i-0123456789abcdef0, got "i-XYZ"`}},
		},
		{
			name: "bad endpoint",
			src:  edit(t, "  region: ap-northeast-1", "  region: ap-northeast-1\n  endpoint: localhost:5000"),
			want: []wantErr{{22, "aws.endpoint", `must be an http:// or https:// URL with a host, got "localhost:5000"`}},
		},
		{
			name: "bad enums",
			src:  edit(t, "  mode: aws-stop", "  mode: stonith", "  self_fence_action: reboot", "  self_fence_action: panic", "log_level: info", "log_level: verbose"),
			want: []wantErr{
				{lineMode, "fencing.mode", `must be aws-stop or lease-only, got "stonith"`},
				{30, "fencing.self_fence_action", `must be reboot, poweroff, exit or none, got "panic"`},
				{31, "log_level", `must be trace, debug, info, warn or error, got "verbose"`},
			},
		},
		{
			name: "bad log_format",
			src:  edit(t, "log_level: info\n", "log_level: info\nlog_format: logfmt\n"),
			want: []wantErr{{32, "log_format", `must be text or json, got "logfmt"`}},
		},
		{
			name: "multi-document file",
			src:  validConfigYAML + "---\nnode_id: n2\n",
			want: []wantErr{{35, "", "more than one YAML document"}},
		},
		{
			name: "empty file",
			src:  "\n# only a comment\n",
			want: []wantErr{{0, "", "empty document"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := ParseConfig([]byte(tt.src))
			if c != nil {
				t.Errorf("got a config despite errors")
			}
			checkErrs(t, errs, tt.want)
		})
	}
}

func TestConfigWitnessNeedsNoInstanceID(t *testing.T) {
	src := edit(t, "node_id: n1", "node_id: w1", "role: node\n", "role: witness\n",
		"bind: 10.0.1.10:7000", "bind: 10.0.3.10:7000", "  instance_id: i-0123456789abcdef0\n", "")
	if _, errs := ParseConfig([]byte(src)); errs != nil {
		t.Fatal(errs)
	}
	src = edit(t, "  instance_id: i-0123456789abcdef0", "  instance_id: auto")
	if _, errs := ParseConfig([]byte(src)); errs != nil {
		t.Fatal(errs)
	}
	src = edit(t, "  instance_id: i-0123456789abcdef0\n", "", "  mode: aws-stop", "  mode: lease-only")
	if _, errs := ParseConfig([]byte(src)); len(errs) != 1 || errs[0].Path != "fencing.watchdog" || !strings.Contains(errs[0].Msg, `write "none"`) {
		t.Fatalf("lease-only node without fencing.watchdog: %v, want one fencing.watchdog error", errs)
	}
	src = edit(t, "  instance_id: i-0123456789abcdef0\n", "", "  mode: aws-stop", "  mode: lease-only\n  watchdog: none")
	c, errs := ParseConfig([]byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "lease-only") || !strings.Contains(w, "fencing itself") {
		t.Errorf("lease-only warning missing: %q", w)
	}
}

func TestConfigWarnsWhenEveryCertificateMayOperate(t *testing.T) {
	c, errs := ParseConfig([]byte(edit(t, "access:\n  operators: [ops]\n", "")))
	if errs != nil {
		t.Fatal(errs)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "access.operators is empty") {
		t.Errorf("no access warning: %q", w)
	}
	bad := edit(t, "  operators: [ops]\n", "  operators: [ops]\n  tokens:\n    - {name: a, role: admin, sha256: xyz}\n")
	_, errs = ParseConfig([]byte(bad))
	msg := errs.Error()
	if !strings.Contains(msg, "access.tokens[0].role: must be read or operate") || !strings.Contains(msg, "access.tokens[0].sha256") {
		t.Errorf("token errors: %s", msg)
	}
}

func TestConfigWarnings(t *testing.T) {
	two := edit(t, "  - id: w1\n    address: 10.0.3.10:7000\n    role: witness\n", "")
	c, errs := ParseConfig([]byte(two))
	if errs != nil {
		t.Fatal(errs)
	}
	want := []string{"2 voters: a failure of either stops the cluster; add a witness so the majority side can act"}
	if got := c.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	one := edit(t, "  - id: n2\n    address: 10.0.2.10:7000\n    role: node\n  - id: w1\n    address: 10.0.3.10:7000\n    role: witness\n", "")
	if c, errs = ParseConfig([]byte(one)); errs != nil {
		t.Fatal(errs)
	}
	if got := c.Warnings(); len(got) != 1 || !strings.HasPrefix(got[0], "1 voter:") {
		t.Errorf("warnings = %q", got)
	}
	oneNode := edit(t, "  - id: n2\n    address: 10.0.2.10:7000\n    role: node\n", "  - id: w2\n    address: 10.0.2.10:7000\n    role: witness\n")
	if c, errs = ParseConfig([]byte(oneNode)); errs != nil {
		t.Fatal(errs)
	}
	if got := c.Warnings(); len(got) != 1 || !strings.Contains(got[0], "only 1 member has role node") {
		t.Errorf("warnings = %q", got)
	}
}

func TestConfigValidateFromGo(t *testing.T) {
	// Embedders fill Config from Go; Validate names settings by path.
	var c Config
	errs := c.Validate()
	var paths []string
	for _, e := range errs {
		if e.Line != 0 {
			t.Errorf("Validate set a line: %v", e)
		}
		paths = append(paths, e.Path)
	}
	want := []string{"node_id", "role", "data_dir", "bind", "api", "tls.ca", "tls.cert", "tls.key", "members",
		"timing.heartbeat", "fencing.mode", "fencing.self_fence_action", "fencing.stop_deadline", "fencing.stop_timeout", "aws.call_timeout", "log_level"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q\nwant    %q", paths, want)
	}
	c2, errs := ParseConfig([]byte(validConfigYAML))
	if errs != nil {
		t.Fatal(errs)
	}
	if errs := c2.Validate(); errs != nil {
		t.Errorf("valid config: %v", errs)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	src := edit(t,
		"data_dir: /var/lib/raftha", "data_dir: data",
		"  ca: /etc/raftha/ca.pem", "  ca: pki/ca.pem",
		"  cert: /etc/raftha/n1.pem", "  cert: ../n1.pem")
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") || c.TLS.CA != filepath.Join(dir, "pki", "ca.pem") ||
		c.TLS.Cert != filepath.Join(filepath.Dir(dir), "n1.pem") || c.TLS.Key != "/etc/raftha/n1-key.pem" {
		t.Errorf("paths not resolved against %s: data_dir %q tls %+v", dir, c.DataDir, c.TLS)
	}

	// A relative file name resolves against the working directory's view
	// of the file's directory, giving absolute paths.
	t.Chdir(dir)
	if c, err = LoadConfigFile("config.yaml"); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir = %q", c.DataDir)
	}

	bad := edit(t, "  heartbeat: 300ms", "  heartbeet: 300ms", "  lease: 1500ms", "  lease: 5", "node_id: n1", "node_id: n1\nnode_id: n2")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfigFile("config.yaml")
	want := `config.yaml:2: duplicate key "node_id" (first at line 1)` + "\n" +
		`config.yaml:25: unknown key "heartbeet" in timing (expected one of: heartbeat, lease, failover_timeout)` + "\n" +
		`config.yaml:26: timing.lease: expected a duration like 500ms or 3s, got "5"`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}

	invalid := edit(t, "  lease: 1500ms", "  lease: 700ms", "data_dir: /var/lib/raftha\n", "")
	if err := os.WriteFile(path, []byte(invalid), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfigFile("config.yaml")
	want = `config.yaml: data_dir: required: the directory for the Raft log and snapshots` + "\n" +
		`config.yaml:24: timing.lease: timing.lease (700ms) must be at least 3 × timing.heartbeat (300ms): a lease must survive two lost heartbeats`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if l := asErrorList(t, err); len(l) != 2 || l[1].Line != 24 || l[1].Path != "timing.lease" {
		t.Errorf("ErrorList = %v", l)
	}

	_, err = LoadConfigFile(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file error %v does not name the file", err)
	}
}
