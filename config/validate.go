package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
)

// Defaults filled by SetDefaults.
const (
	DefaultHeartbeat       = 300 * time.Millisecond
	DefaultLease           = 1500 * time.Millisecond
	DefaultFailoverTimeout = 2 * time.Second
	DefaultFencingMode     = FencingAWSStop
	DefaultStopDeadline    = 10 * time.Second
	// DefaultStopTimeout bounds the wait for a fenced instance to stop.
	DefaultStopTimeout = 5 * time.Minute
	// DefaultCallTimeout is the deadline of one AWS API call.
	DefaultCallTimeout     = 10 * time.Second
	DefaultSelfFenceAction = SelfFenceReboot
	DefaultSysrqTrigger    = "/proc/sysrq-trigger"
	DefaultLogLevel        = "info"
)

// MinHeartbeat is the smallest timing.heartbeat Validate accepts.
const MinHeartbeat = 20 * time.Millisecond

var (
	configNodeIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	ec2InstanceIDRE  = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	configHostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// SetDefaults fills the settings left empty: advertise (from bind, when
// bind names a concrete address), the timings, the fencing settings, the
// log level and the AWS region (from AWS_REGION, then AWS_DEFAULT_REGION).
// These are the `raftha agent` command's defaults (LoadConfigFile and
// ParseConfig apply them), including fencing.mode aws-stop and
// self_fence_action reboot; New applies the library's first (see New).
func (c *Config) SetDefaults() {
	if c.Advertise == "" && c.Bind != "" {
		if host, _, err := net.SplitHostPort(c.Bind); err == nil && !isUnspecifiedHost(host) {
			c.Advertise = c.Bind
		}
	}
	setDefaultDuration(&c.Timing.Heartbeat, DefaultHeartbeat)
	setDefaultDuration(&c.Timing.Lease, DefaultLease)
	setDefaultDuration(&c.Timing.FailoverTimeout, DefaultFailoverTimeout)
	setDefaultString(&c.Fencing.Mode, DefaultFencingMode)
	setDefaultDuration(&c.Fencing.StopDeadline, DefaultStopDeadline)
	setDefaultDuration(&c.Fencing.StopTimeout, DefaultStopTimeout)
	setDefaultDuration(&c.AWS.CallTimeout, DefaultCallTimeout)
	setDefaultString(&c.Fencing.SelfFenceAction, DefaultSelfFenceAction)
	setDefaultString(&c.Fencing.SysrqTrigger, DefaultSysrqTrigger)
	if c.Fencing.Watchdog != "" && c.Fencing.Watchdog != WatchdogNone {
		setDefaultDuration(&c.Fencing.WatchdogTimeout, c.maxWatchdogTimeout().Truncate(time.Second))
	}
	setDefaultString(&c.LogLevel, DefaultLogLevel)
	c.setHookDefaults()
	if c.AWS.Region == "" {
		c.AWS.Region = os.Getenv("AWS_REGION")
	}
	if c.AWS.Region == "" {
		c.AWS.Region = os.Getenv("AWS_DEFAULT_REGION")
	}
}

func setDefaultDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func setDefaultString[T ~string](s *T, def T) {
	if *s == "" {
		*s = def
	}
}

// isUnspecifiedHost reports whether host means "every address".
func isUnspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// checkConfigHostPort validates a host:port, returning its host, or a message
// saying what is wrong.
func checkConfigHostPort(s string) (host string, problem string) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Sprintf("expected host:port (e.g. 10.0.1.10:7000), got %q", s)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Sprintf("port must be 1-65535, got %q in %q", p, s)
	}
	if h == "" {
		return h, ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return h, ""
	}
	if len(h) > 253 || !configHostnameRE.MatchString(h) || looksLikeBadIPv4(h) {
		return "", fmt.Sprintf("host %q is neither an IP address nor a valid hostname", h)
	}
	return h, ""
}

// looksLikeBadIPv4 catches malformed IPv4 addresses such as 10.0.0.300,
// which the hostname pattern would otherwise accept.
func looksLikeBadIPv4(h string) bool {
	return strings.Trim(h, "0123456789.") == ""
}

// effectiveAdvertise is Advertise, or Bind when Advertise is empty (what
// SetDefaults would fill), or "" when that is not a valid concrete
// host:port.
func (c *Config) effectiveAdvertise() string {
	adv := c.Advertise
	if adv == "" {
		adv = c.Bind
	}
	if host, problem := checkConfigHostPort(adv); problem == "" && !isUnspecifiedHost(host) {
		return adv
	}
	return ""
}

// Validate checks c and returns every problem, each naming its setting by
// path (Line is left 0; LoadConfigFile fills it). It returns nil when c is
// valid. Call SetDefaults first: Validate does not fill anything in.
func (c *Config) Validate() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	add := func(path, format string, args ...any) {
		errs = append(errs, &yamlstrict.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case c.NodeID == "":
		add("node_id", "required: this member's unique, stable id")
	case !configNodeIDRE.MatchString(c.NodeID):
		add("node_id", "must be 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit, got %q", c.NodeID)
	}
	switch c.Role {
	case "":
		add("role", "required: node or witness")
	case RoleNode, RoleWitness:
	default:
		add("role", "must be node or witness, got %q", c.Role)
	}
	if c.DataDir == "" {
		add("data_dir", "required: the directory for the Raft log and snapshots")
	}

	bindUnspecified := false
	if c.Bind == "" {
		add("bind", "required: host:port for Raft and member RPC, e.g. 10.0.1.10:7000")
	} else if host, problem := checkConfigHostPort(c.Bind); problem != "" {
		add("bind", "%s", problem)
	} else {
		bindUnspecified = isUnspecifiedHost(host)
	}
	if c.Advertise == "" {
		if bindUnspecified {
			add("advertise", "required when bind listens on every address (%s): set the host:port peers use to reach this member", c.Bind)
		}
	} else if host, problem := checkConfigHostPort(c.Advertise); problem != "" {
		add("advertise", "%s", problem)
	} else if isUnspecifiedHost(host) {
		add("advertise", "must name an address peers can reach, not %q", c.Advertise)
	}
	if c.API == "" {
		add("api", "required: host:port for the HTTPS API, e.g. 10.0.1.10:7401")
	} else if _, problem := checkConfigHostPort(c.API); problem != "" {
		add("api", "%s", problem)
	}

	for _, f := range []struct{ path, val string }{
		{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key},
	} {
		if f.val == "" {
			add(f.path, "required: raftha has no plaintext mode")
		}
	}

	errs = append(errs, c.validateMembers()...)
	errs = append(errs, c.validateTiming()...)
	errs = append(errs, c.validateFencing()...)
	errs = append(errs, c.validateAccess()...)
	errs = append(errs, c.validateHealth()...)
	errs = append(errs, c.validateHooks()...)

	if c.AWS.InstanceID != "" && c.AWS.InstanceID != "auto" && !ec2InstanceIDRE.MatchString(c.AWS.InstanceID) {
		add("aws.instance_id", "must be auto or an EC2 instance id like i-0123456789abcdef0, got %q", c.AWS.InstanceID)
	}
	if c.AWS.Endpoint != "" {
		u, err := url.Parse(c.AWS.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("aws.endpoint", "must be an http:// or https:// URL with a host, got %q", c.AWS.Endpoint)
		}
	}

	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	case "":
		add("log_level", "required: trace, debug, info, warn or error")
	default:
		add("log_level", "must be trace, debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "", LogFormatText, LogFormatJSON: // "" is text
	default:
		add("log_format", "must be text or json, got %q", c.LogFormat)
	}

	if len(errs) == 0 {
		return nil
	}
	return errs
}

// validateMembers checks the initial voter list and this member's place
// in it.
func (c *Config) validateMembers() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	add := func(path, format string, args ...any) {
		errs = append(errs, &yamlstrict.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.Members) == 0 {
		add("members", "required: list every initial voter (id, address, role), this member included")
		return errs
	}
	ids := map[string]int{}
	addrs := map[string]int{}
	nodes := 0
	self := -1
	for i, m := range c.Members {
		p := fmt.Sprintf("members[%d]", i)
		switch {
		case m.ID == "":
			add(p+".id", "required")
		case !configNodeIDRE.MatchString(m.ID):
			add(p+".id", "must be 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit, got %q", m.ID)
		default:
			if j, dup := ids[m.ID]; dup {
				add(p+".id", "duplicate id %q (also members[%d])", m.ID, j)
			} else {
				ids[m.ID] = i
			}
			if m.ID == c.NodeID {
				self = i
			}
		}
		switch {
		case m.Address == "":
			add(p+".address", "required: the member's advertise host:port")
		default:
			host, problem := checkConfigHostPort(m.Address)
			switch {
			case problem != "":
				add(p+".address", "%s", problem)
			case isUnspecifiedHost(host):
				add(p+".address", "must name an address peers can reach, not %q", m.Address)
			default:
				key := canonicalConfigHostPort(m.Address)
				if j, dup := addrs[key]; dup {
					add(p+".address", "duplicate address %q (also members[%d])", m.Address, j)
				} else {
					addrs[key] = i
				}
			}
		}
		switch m.Role {
		case "":
			add(p+".role", "required: node or witness")
		case RoleNode:
			nodes++
		case RoleWitness:
		default:
			add(p+".role", "must be node or witness, got %q", m.Role)
		}
	}
	if nodes == 0 && len(errs) == 0 {
		add("members", "no member has role node: a cluster needs at least one node to run failover groups")
	}
	if c.NodeID == "" || !configNodeIDRE.MatchString(c.NodeID) {
		return errs
	}
	adv := c.effectiveAdvertise()
	if self < 0 {
		hint := ""
		if adv != "" && (c.Role == RoleNode || c.Role == RoleWitness) {
			hint = fmt.Sprintf(": add {id: %s, address: %s, role: %s}", c.NodeID, adv, c.Role)
		}
		add("members", "this member (node_id %q) is not listed%s", c.NodeID, hint)
		return errs
	}
	m := c.Members[self]
	p := fmt.Sprintf("members[%d]", self)
	if (c.Role == RoleNode || c.Role == RoleWitness) && m.Role != c.Role && (m.Role == RoleNode || m.Role == RoleWitness) {
		add(p+".role", "expected %q (this member's role), got %q", c.Role, m.Role)
	}
	if adv != "" && m.Address != "" && canonicalConfigHostPort(m.Address) != canonicalConfigHostPort(adv) {
		add(p+".address", "expected %q (this member's advertise address), got %q", adv, m.Address)
	}
	return errs
}

// canonicalConfigHostPort normalises IP spellings so "[::1]:7000" and
// "[0:0::1]:7000" compare equal; hostnames compare case-insensitively.
func canonicalConfigHostPort(s string) string {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return s
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return net.JoinHostPort(ip.String(), p)
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(h, ".")), p)
}

// validateTiming enforces the timing relations of the safety argument:
// lease ≥ 3 × heartbeat, failover_timeout > lease, and with lease-only
// failover_timeout ≥ lease + heartbeat (see TimingConfig).
func (c *Config) validateTiming() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	add := func(path, format string, args ...any) {
		errs = append(errs, &yamlstrict.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	t := c.Timing
	if t.Heartbeat.D() < MinHeartbeat {
		add("timing.heartbeat", "must be at least %s, got %s", MinHeartbeat, t.Heartbeat)
		// The relations below are meaningless without a usable heartbeat.
		return errs
	}
	if t.Lease.D() < 3*t.Heartbeat.D() {
		add("timing.lease", "timing.lease (%s) must be at least 3 × timing.heartbeat (%s): a lease must survive two lost heartbeats", t.Lease, t.Heartbeat)
	}
	if t.FailoverTimeout <= t.Lease {
		add("timing.failover_timeout", "timing.failover_timeout (%s) must be greater than timing.lease (%s): an owner must run out of lease before the leader declares it lost", t.FailoverTimeout, t.Lease)
	} else if c.Fencing.Mode == FencingLeaseOnly && t.FailoverTimeout.D() < t.Lease.D()+t.Heartbeat.D() {
		add("timing.failover_timeout", "timing.failover_timeout (%s) must be at least timing.lease + timing.heartbeat (%s + %s = %s) with fencing.mode lease-only: nothing stops the lost owner, so the takeover must wait out its lease plus a margin",
			t.FailoverTimeout, t.Lease, t.Heartbeat, t.Lease+t.Heartbeat)
	}
	if c.Fencing.Mode == FencingLeaseOnly && t.Heartbeat.D() < selfFenceGrace {
		add("timing.heartbeat", "timing.heartbeat (%s) is the lease-only wait's clock and scheduling margin and must be at least the self-fence grace (%s) with fencing.mode lease-only", t.Heartbeat, selfFenceGrace)
	}
	return errs
}

// validateFencing checks the fencing settings and that aws-stop has an
// instance to stop.
func (c *Config) validateFencing() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	add := func(path, format string, args ...any) {
		errs = append(errs, &yamlstrict.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	f := c.Fencing
	switch f.Mode {
	case FencingAWSStop:
		if c.Role == RoleNode && c.AWS.InstanceID == "" {
			add("aws.instance_id", "fencing.mode aws-stop needs aws.instance_id (an i-... id or auto) on every node; set fencing.mode: lease-only where there is no EC2 API")
		}
	case FencingLeaseOnly:
	case "":
		add("fencing.mode", "required: aws-stop or lease-only")
	default:
		add("fencing.mode", "must be aws-stop or lease-only, got %q", f.Mode)
	}
	switch f.SelfFenceAction {
	case SelfFenceReboot, SelfFencePoweroff, SelfFenceExit, SelfFenceNone:
	case "":
		add("fencing.self_fence_action", "required: reboot, poweroff, exit or none")
	default:
		add("fencing.self_fence_action", "must be reboot, poweroff, exit or none, got %q", f.SelfFenceAction)
	}
	if f.StopDeadline <= 0 {
		add("fencing.stop_deadline", "must be greater than 0, got %s", f.StopDeadline)
	}
	if f.StopTimeout <= 0 {
		add("fencing.stop_timeout", "must be greater than 0, got %s", f.StopTimeout)
	}
	if c.AWS.CallTimeout <= 0 {
		add("aws.call_timeout", "must be greater than 0, got %s", c.AWS.CallTimeout)
	}
	errs = append(errs, c.validateWatchdog()...)
	return errs
}

// validateAccess checks the access section.
func (c *Config) validateAccess() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	seen := map[string]bool{}
	for i, t := range c.Access.Tokens {
		p := fmt.Sprintf("access.tokens[%d]", i)
		if t.Name == "" {
			errs = append(errs, &yamlstrict.FieldError{Path: p + ".name", Msg: "required"})
		} else if seen[t.Name] {
			errs = append(errs, &yamlstrict.FieldError{Path: p + ".name", Msg: fmt.Sprintf("token name %q is used twice", t.Name)})
		}
		seen[t.Name] = true
		if !t.Role.Valid() {
			errs = append(errs, &yamlstrict.FieldError{Path: p + ".role", Msg: fmt.Sprintf("must be %s or %s, got %q", api.RoleRead, api.RoleOperate, t.Role)})
		}
		if len(t.SHA256) != 64 || strings.Trim(strings.ToLower(t.SHA256), "0123456789abcdef") != "" {
			errs = append(errs, &yamlstrict.FieldError{Path: p + ".sha256", Msg: "must be the 64-digit hex SHA-256 of the token (raftha token create prints it)"})
		}
	}
	for i, o := range c.Access.Operators {
		if o == "" {
			errs = append(errs, &yamlstrict.FieldError{Path: fmt.Sprintf("access.operators[%d]", i), Msg: "empty name"})
		}
	}
	return errs
}

// ValidateSettings checks the timing and fencing relations that the
// cluster settings (fencing.mode, timing.heartbeat, timing.lease,
// fencing.stop_deadline) must satisfy, leaving out the checks that
// concern this member only (aws.instance_id, fencing.watchdog). It returns
// nil when they hold.
func (c *Config) ValidateSettings() yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	for _, e := range append(c.validateTiming(), c.validateFencing()...) {
		if e.Path != "aws.instance_id" && e.Path != "fencing.watchdog" {
			errs = append(errs, e)
		}
	}
	return errs
}

// LeaseOnlyWait is how long after the leader last heard from a lost owner
// a lease-only takeover may start: lease + stop_deadline + the self-fence
// grace + a heartbeat of margin (see leaseOnlyWaitTerms, which `raftha
// timing explain` prints term by term).
func (c *Config) LeaseOnlyWait() time.Duration {
	return LeaseOnlyWaitOf(c.ClusterSettings())
}

// Warnings returns the risks of a valid configuration that Validate does
// not refuse: too few voters to survive a failure, too few nodes to fail
// over to, and the guarantees lease-only fencing gives up.
func (c *Config) Warnings() []string {
	var w []string
	switch n := len(c.Members); {
	case n == 1:
		w = append(w, "1 voter: there is nothing to fail over to and no quorum survives its loss; add a node and a witness")
	case n == 2:
		w = append(w, "2 voters: a failure of either stops the cluster; add a witness so the majority side can act")
	case n >= 4 && n%2 == 0:
		w = append(w, fmt.Sprintf("%d voters tolerate no more failures than %d; an odd number of voters is enough", n, n-1))
	}
	nodes := 0
	for _, m := range c.Members {
		if m.Role == RoleNode {
			nodes++
		}
	}
	if nodes == 1 && len(c.Members) > 1 {
		w = append(w, "only 1 member has role node: failover groups have nowhere to fail over to")
	}
	if c.TLS.AllowLegacyMemberCerts {
		w = append(w, "tls.allow_legacy_member_certs is on: member certificates issued before certificate kinds are admitted to the member port by common name, so an operator certificate with a member's name would be too; re-issue them with `raftha tls cert create --member ID`, roll the members, and turn it off (docs/security.md, Migrating certificates)")
	}
	if len(c.Access.Operators) == 0 {
		w = append(w, "access.operators is empty: every operator certificate from the cluster CA may change the cluster; list the operator certificate names to make the others read-only")
	}
	if c.Fencing.Mode == FencingLeaseOnly {
		w = append(w, fmt.Sprintf("fencing.mode lease-only: a lost owner is never stopped by the winner; safety relies on it fencing itself when its lease (%s) runs out (stopping resources within fencing.stop_deadline %s, then self_fence_action %s), so a takeover waits %s after the owner was last heard from",
			c.Timing.Lease, c.Fencing.StopDeadline, c.Fencing.SelfFenceAction, c.LeaseOnlyWait()))
		if c.Fencing.SelfFenceAction == SelfFenceNone || c.Fencing.SelfFenceAction == SelfFenceExit {
			w = append(w, fmt.Sprintf("fencing.self_fence_action %s with fencing.mode lease-only: an owner whose resources fail to stop keeps them while another node takes over", c.Fencing.SelfFenceAction))
		}
	}
	w = append(w, c.healthWarnings()...)
	w = append(w, c.hookWarnings()...)
	return w
}
