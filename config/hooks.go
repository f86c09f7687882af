package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
)

// HealthConfig configures the health listener for load balancers (the
// `health` section). It is off unless Listen is set.
type HealthConfig struct {
	// Listen is the host:port of the health listener: plain HTTP, no
	// credential, read-only (GET /health/live, /health/ready,
	// /health/group/NAME). Empty, the default, means no listener.
	Listen string `yaml:"listen,omitempty"`
}

// HookConfig is one hook: a command this member runs, without a shell
// unless the command names one, or an HTTP POST it makes (URL), when an
// event of Events concerns it. Exactly one of Command and URL is set.
type HookConfig struct {
	// Name identifies the hook in logs and metrics.
	Name string `yaml:"name"`
	// Command is the argv (Command[0] is the program, an absolute path or
	// one found in PATH). For a shell line, write [/bin/sh, -c, "..."].
	Command []string `yaml:"command,omitempty"`
	// URL, instead of Command, is an http:// or https:// address the
	// member POSTs the event to as JSON (api.HookEvent). Any 2xx answer is
	// success; redirects are not followed.
	URL string `yaml:"url,omitempty"`
	// BearerTokenFile, with URL only, names a file whose content (trimmed
	// of surrounding white space) is sent as "Authorization: Bearer ...".
	// It is read at each POST, so it may be rotated in place; it is never
	// logged.
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// Events are the event kinds that run it (HookEvents).
	Events []fsm.EventKind `yaml:"events"`
	// Groups, when not empty, limits the hook to these groups.
	Groups []string `yaml:"groups,omitempty"`
	// Timeout bounds one run (default DefaultHookTimeout): at the timeout
	// the hook's process group is killed, or its POST abandoned.
	Timeout Duration `yaml:"timeout,omitempty"`
}

// DefaultHookTimeout is the timeout of a hook that sets none.
const DefaultHookTimeout = 10 * time.Second

// MaxHookTimeout is the longest hooks[].timeout Validate accepts: hooks
// run one at a time, so a long one delays the others.
const MaxHookTimeout = 5 * time.Minute

// HookEvents are the event kinds a hook may name, in the order the
// documentation lists them. Every other kind is refused by Validate.
var HookEvents = []fsm.EventKind{
	fsm.KindAssigned, fsm.KindTakeover, fsm.KindStopping, fsm.KindStopped,
	fsm.KindOnline, fsm.KindFailed, fsm.KindFenced, fsm.KindFenceFailed,
	fsm.KindSelfFenced, fsm.KindSelfFenceAction,
}

// IsHookEvent reports whether k is one of HookEvents.
func IsHookEvent(k fsm.EventKind) bool {
	for _, e := range HookEvents {
		if e == k {
			return true
		}
	}
	return false
}

// setHookDefaults fills each hook's timeout.
func (c *Config) setHookDefaults() {
	for i := range c.Hooks {
		setDefaultDuration(&c.Hooks[i].Timeout, DefaultHookTimeout)
	}
}

// validateHealth checks health.listen: a host:port that is neither the
// API's nor the member port's.
func (c *Config) validateHealth() yamlstrict.ErrorList {
	l := c.Health.Listen
	if l == "" {
		return nil
	}
	fe := func(msg string) yamlstrict.ErrorList {
		return yamlstrict.ErrorList{&yamlstrict.FieldError{Path: "health.listen", Msg: msg}}
	}
	if _, problem := checkConfigHostPort(l); problem != "" {
		return fe(problem)
	}
	for _, o := range []struct{ key, val string }{{"api", c.API}, {"bind", c.Bind}} {
		if o.val != "" && canonicalConfigHostPort(o.val) == canonicalConfigHostPort(l) {
			return fe(fmt.Sprintf("must differ from %s (%s): the health listener is a plain-HTTP port of its own", o.key, o.val))
		}
	}
	return nil
}

// healthWarnings warns of a health listener on every address: it is
// plain HTTP without a credential.
func (c *Config) healthWarnings() []string {
	host, _, err := net.SplitHostPort(c.Health.Listen)
	if c.Health.Listen == "" || err != nil || !isUnspecifiedHost(host) {
		return nil
	}
	return []string{fmt.Sprintf("health.listen %s serves plain HTTP without a credential on every address: bind it to the address the load balancer reaches, or firewall it", c.Health.Listen)}
}

// validateHooks checks the hooks section.
func (c *Config) validateHooks() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	add := func(path, format string, args ...any) {
		errs = append(errs, &yamlstrict.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	known := make([]string, len(HookEvents))
	for i, k := range HookEvents {
		known[i] = string(k)
	}
	names := map[string]int{}
	for i, h := range c.Hooks {
		p := fmt.Sprintf("hooks[%d]", i)
		switch j, dup := names[h.Name]; {
		case h.Name == "":
			add(p+".name", "required: names the hook in logs and metrics")
		case !configNodeIDRE.MatchString(h.Name):
			add(p+".name", "must be 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit, got %q", h.Name)
		case dup:
			add(p+".name", "duplicate hook name %q (also hooks[%d])", h.Name, j)
		default:
			names[h.Name] = i
		}
		switch {
		case h.URL != "" && len(h.Command) > 0:
			add(p+".url", "a hook is either a command or a url, not both: split it into two hooks")
		case h.URL != "":
			if problem := checkHookURL(h.URL); problem != "" {
				add(p+".url", "%s", problem)
			}
		case len(h.Command) == 0 || h.Command[0] == "":
			add(p+".command", "required: the program and its arguments as a list, e.g. [/usr/local/bin/notify, --to, ops]; for a shell line write [/bin/sh, -c, \"...\"] (or url: for an HTTP POST)")
		}
		switch {
		case h.BearerTokenFile != "" && h.URL == "":
			add(p+".bearer_token_file", "only with url: a command hook gets no Authorization header")
		case h.BearerTokenFile != "" && !filepath.IsAbs(h.BearerTokenFile):
			add(p+".bearer_token_file", "must be an absolute path, got %q", h.BearerTokenFile)
		}
		if len(h.Events) == 0 {
			add(p+".events", "required: one or more of %s", strings.Join(known, ", "))
		}
		for j, e := range h.Events {
			if !IsHookEvent(e) {
				add(fmt.Sprintf("%s.events[%d]", p, j), "must be one of %s, got %q%s", strings.Join(known, ", "), e, hookEventHint(e))
			}
		}
		for j, g := range h.Groups {
			if !configNodeIDRE.MatchString(g) {
				add(fmt.Sprintf("%s.groups[%d]", p, j), "must be a group name, got %q", g)
			}
		}
		if h.Timeout <= 0 || h.Timeout.D() > MaxHookTimeout {
			add(p+".timeout", "must be greater than 0 and at most %s, got %s", MaxHookTimeout, h.Timeout)
		}
	}
	return errs
}

// checkHookURL says what is wrong with a hook's url, or "".
func checkHookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("must be an http:// or https:// URL: %v", errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("must be an http:// or https:// URL, got scheme %q in %q", u.Scheme, u.Redacted())
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("must name a host, got %q", u.Redacted())
	case u.User != nil:
		return fmt.Sprintf("must not carry credentials (%q): they would be logged with the URL; put a token in bearer_token_file", u.Redacted())
	case u.Fragment != "":
		return fmt.Sprintf("must have no #fragment (it is never sent), got %q", u.Redacted())
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port must be 1-65535, got %q", port)
		}
	}
	return ""
}

// hookWarnings warns of a bearer token sent in clear text (plain http to
// a host other than loopback).
func (c *Config) hookWarnings() []string {
	var w []string
	for i, h := range c.Hooks {
		u, err := url.Parse(h.URL)
		if h.URL == "" || h.BearerTokenFile == "" || err != nil || u.Scheme != "http" {
			continue
		}
		if ip, err := netip.ParseAddr(u.Hostname()); (err == nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			continue
		}
		w = append(w, fmt.Sprintf("hooks[%d] (%s) sends its bearer token over plain http to %s: use https", i, h.Name, u.Host))
	}
	return w
}

// hookEventHint suggests the event kind meant by a common other word.
func hookEventHint(e fsm.EventKind) string {
	switch strings.ToLower(string(e)) {
	case "offline", "stop":
		return " (a group that stopped: stopped)"
	case "start", "started", "up":
		return " (a group that came up: online)"
	case "fence", "self-fence":
		return " (fenced, self-fenced or self-fence-action)"
	}
	return ""
}
