package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// TestHealthAndHooksConfig reads a valid health section and hook list,
// with the hook timeout's default filled in.
func TestHealthAndHooksConfig(t *testing.T) {
	src := validConfigYAML + `health:
  listen: 127.0.0.1:8009
hooks:
  - name: notify
    command: [/usr/local/bin/notify, --to, ops]
    events: [online, stopped, failed]
  - name: vip
    command: [/bin/sh, -c, "echo $RAFTHA_EVENT"]
    events: [self-fenced]
    groups: [db]
    timeout: 2s
`
	c, errs := ParseConfig([]byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	if c.Health.Listen != "127.0.0.1:8009" {
		t.Errorf("health.listen = %q", c.Health.Listen)
	}
	want := []HookConfig{
		{Name: "notify", Command: []string{"/usr/local/bin/notify", "--to", "ops"}, Events: []fsm.EventKind{fsm.KindOnline, fsm.KindStopped, fsm.KindFailed}, Timeout: Duration(DefaultHookTimeout)},
		{Name: "vip", Command: []string{"/bin/sh", "-c", "echo $RAFTHA_EVENT"}, Events: []fsm.EventKind{fsm.KindSelfFenced}, Groups: []string{"db"}, Timeout: Duration(2 * time.Second)},
	}
	if !reflect.DeepEqual(c.Hooks, want) {
		t.Errorf("hooks = %+v\nwant %+v", c.Hooks, want)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings for a health listener on one address: %q", w)
	}
	c.Health.Listen = "0.0.0.0:8009"
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "health.listen 0.0.0.0:8009 serves plain HTTP without a credential on every address") {
		t.Errorf("warnings for a health listener on every address: %q", w)
	}
	// Off by default.
	if c, errs = ParseConfig([]byte(validConfigYAML)); errs != nil || c.Health.Listen != "" || c.Hooks != nil {
		t.Errorf("defaults: %v %+v %+v", errs, c.Health, c.Hooks)
	}
}

// TestHealthAndHooksConfigErrors: every mistake in the two sections is
// reported at its line, naming its key.
func TestHealthAndHooksConfigErrors(t *testing.T) {
	// validConfigYAML has 33 lines; the additions start at line 34.
	src := validConfigYAML + `health:
  listen: 10.0.1.10:7443
hooks:
  - name: notify
    command: []
    events: [online, offline]
  - name: notify
    command: [/bin/true]
    events: []
    groups: ["bad name"]
    timeout: 10m
`
	path, got := loadConfigErrors(t, src)
	p := path + ":"
	want := p + `35: health.listen: must differ from api (10.0.1.10:7443): the health listener is a plain-HTTP port of its own` + "\n" +
		p + `38: hooks[0].command: required: the program and its arguments as a list, e.g. [/usr/local/bin/notify, --to, ops]; for a shell line write [/bin/sh, -c, "..."] (or url: for an HTTP POST)` + "\n" +
		p + `39: hooks[0].events[1]: must be one of assigned, takeover, stopping, stopped, online, failed, fenced, fence-failed, self-fenced, self-fence-action, got "offline" (a group that stopped: stopped)` + "\n" +
		p + `40: hooks[1].name: duplicate hook name "notify" (also hooks[0])` + "\n" +
		p + `42: hooks[1].events: required: one or more of assigned, takeover, stopping, stopped, online, failed, fenced, fence-failed, self-fenced, self-fence-action` + "\n" +
		p + `43: hooks[1].groups[0]: must be a group name, got "bad name"` + "\n" +
		p + `44: hooks[1].timeout: must be greater than 0 and at most 5m0s, got 10m0s`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	bad := validConfigYAML + "health:\n  listen: nowhere\n"
	if _, errs := ParseConfig([]byte(bad)); len(errs) != 1 || errs[0].Path != "health.listen" || errs[0].Line != 35 {
		t.Errorf("health.listen nowhere: %v", errs)
	}
}

// TestHookURLConfig reads a hook that POSTs, with its bearer token file,
// and warns when the token would cross the network in clear text.
func TestHookURLConfig(t *testing.T) {
	src := validConfigYAML + `hooks:
  - name: pager
    url: https://alerts.example.com/raftha?team=db
    bearer_token_file: /etc/raftha/pager.token
    events: [takeover, failed]
    timeout: 3s
  - name: local
    url: http://127.0.0.1:9000/hook
    bearer_token_file: /etc/raftha/local.token
    events: [online]
`
	c, errs := ParseConfig([]byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	want := []HookConfig{
		{Name: "pager", URL: "https://alerts.example.com/raftha?team=db", BearerTokenFile: "/etc/raftha/pager.token", Events: []fsm.EventKind{fsm.KindTakeover, fsm.KindFailed}, Timeout: Duration(3 * time.Second)},
		{Name: "local", URL: "http://127.0.0.1:9000/hook", BearerTokenFile: "/etc/raftha/local.token", Events: []fsm.EventKind{fsm.KindOnline}, Timeout: Duration(DefaultHookTimeout)},
	}
	if !reflect.DeepEqual(c.Hooks, want) {
		t.Errorf("hooks = %+v\nwant %+v", c.Hooks, want)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings for https and a loopback http hook: %q", w)
	}
	c.Hooks[0].URL = "http://alerts.example.com/raftha"
	if w := c.Warnings(); len(w) != 1 || w[0] != "hooks[0] (pager) sends its bearer token over plain http to alerts.example.com: use https" {
		t.Errorf("warnings for a token over plain http: %q", w)
	}
}

// TestHookURLConfigErrors: every mistake in a url hook is reported at its
// line, and a password in the URL is not repeated in the message.
func TestHookURLConfigErrors(t *testing.T) {
	// validConfigYAML has 33 lines; the additions start at line 34.
	src := validConfigYAML + `hooks:
  - name: a
    url: ftp://example.com/x
    events: [online]
  - name: b
    url: https://ops:s3cret@example.com/x
    events: [online]
  - name: c
    url: "https:///nohost"
    events: [online]
  - name: d
    url: "http://exa mple.com/"
    events: [online]
  - name: e
    url: https://example.com/x
    command: [/bin/true]
    events: [online]
  - name: f
    command: [/bin/true]
    bearer_token_file: /etc/t
    events: [online]
  - name: g
    url: https://example.com:99999/x
    bearer_token_file: token.txt
    events: [online]
`
	path, got := loadConfigErrors(t, src)
	p := path + ":"
	want := p + `36: hooks[0].url: must be an http:// or https:// URL, got scheme "ftp" in "ftp://example.com/x"` + "\n" +
		p + `39: hooks[1].url: must not carry credentials ("https://ops:xxxxx@example.com/x"): they would be logged with the URL; put a token in bearer_token_file` + "\n" +
		p + `42: hooks[2].url: must name a host, got "https:///nohost"` + "\n" +
		p + `45: hooks[3].url: must be an http:// or https:// URL: invalid character " " in host name` + "\n" +
		p + `48: hooks[4].url: a hook is either a command or a url, not both: split it into two hooks` + "\n" +
		p + `53: hooks[5].bearer_token_file: only with url: a command hook gets no Authorization header` + "\n" +
		p + `56: hooks[6].url: port must be 1-65535, got "99999"` + "\n" +
		p + `57: hooks[6].bearer_token_file: must be an absolute path, got "token.txt"`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "s3cret") {
		t.Errorf("the URL's password is in the errors: %s", got)
	}
}

// loadConfigErrors writes src to a file, loads it and returns the file's
// path and the errors, failing when it is accepted.
func loadConfigErrors(t *testing.T, src string) (path, errs string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "raftha.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfigFile(path)
	if err == nil {
		t.Fatal("accepted")
	}
	return path, err.Error()
}
