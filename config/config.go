// Package config owns the member configuration file: schema, defaults, validation and the timing budget.
package config

import (
	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// Role is a member's role in the Raft group: the one declared by the log
// (fsm.Role), so the configured role and the recorded one are one type.
type Role = fsm.Role

const (
	// RoleNode may own failover groups and runs their resources.
	RoleNode = fsm.RoleNode
	// RoleWitness votes and stores the log but never owns a group.
	RoleWitness = fsm.RoleWitness
)

// Config is one member's configuration. The YAML member file decodes into it
// (see LoadConfigFile) and embedders fill it from Go; both paths go through
// Validate, so they accept and refuse exactly the same settings.
type Config struct {
	// NodeID is this member's unique, stable identifier (the Raft server ID).
	NodeID string `yaml:"node_id"`
	// Role is node or witness.
	Role Role `yaml:"role"`
	// DataDir holds the Raft log (bbolt), snapshots and local state.
	DataDir string `yaml:"data_dir"`
	// Bind is the host:port the Raft and node-to-node RPC listener binds.
	Bind string `yaml:"bind"`
	// Advertise is the host:port peers use to reach Bind. Defaults to Bind
	// when Bind names a concrete address.
	Advertise string `yaml:"advertise"`
	// API is the host:port of the HTTPS API (and, later, the dashboard).
	API string `yaml:"api"`
	// TLS names the cluster CA and this member's certificate and key.
	TLS TLSConfig `yaml:"tls"`
	// Members lists the initial voters. It is used once, to bootstrap an
	// empty data directory; restarts reuse the configuration stored in Raft.
	Members []MemberConfig `yaml:"members"`
	// AWS configures the EC2 API used for fencing and AWS resources.
	AWS AWSConfig `yaml:"aws"`
	// Timing holds the failure-detection and lease timings.
	Timing TimingConfig `yaml:"timing"`
	// Fencing configures how a lost owner is fenced and how a member fences
	// itself when its lease runs out.
	Fencing FencingConfig `yaml:"fencing"`
	// LogLevel is trace, debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// LogFormat is text (the default, also when empty) or json: one JSON
	// object per log line.
	LogFormat LogFormat `yaml:"log_format,omitempty"`
	// Access maps API identities to roles.
	Access AccessConfig `yaml:"access,omitempty"`
	// Health configures the plain-HTTP health listener for load
	// balancers; off unless health.listen is set (hooks.go).
	Health HealthConfig `yaml:"health,omitempty"`
	// Hooks are commands run on ownership and failure events (hooks.go).
	Hooks []HookConfig `yaml:"hooks,omitempty"`
}

// AccessConfig maps API callers to roles: read (look) or operate (change
// the cluster). Callers present a client certificate from the cluster CA
// or a bearer token.
type AccessConfig struct {
	// Operators lists the certificate names that may operate. A member's
	// certificate gets no role for being a member's: list its id here if
	// the member's own certificate must operate (a witness never needs
	// to). When empty, every certificate from the cluster CA may operate
	// (config check warns).
	Operators []string `yaml:"operators,omitempty"`
	// Tokens are bearer tokens (for the dashboard and scripts).
	Tokens []TokenConfig `yaml:"tokens,omitempty"`
}

// TokenConfig is one bearer token. Only its SHA-256 is stored; create one
// with `raftha token create`.
type TokenConfig struct {
	// Name identifies the token in the event history ("token:NAME").
	Name string `yaml:"name"`
	// Role is read or operate.
	Role api.Role `yaml:"role"`
	// SHA256 is the lowercase hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
}

// TLSConfig names PEM files. All three are required: raftha has no
// plaintext mode.
type TLSConfig struct {
	// CA is the cluster CA certificate; peers and API clients must present
	// a certificate it signed.
	CA string `yaml:"ca"`
	// Cert is this member's certificate (used as server and client).
	Cert string `yaml:"cert"`
	// Key is the private key of Cert.
	Key string `yaml:"key"`
	// AllowLegacyMemberCerts admits to the member port, for a migration,
	// member certificates issued before certificate kinds (no
	// raftha://member/ID name; identity by common name only), logging a
	// warning and counting each (raftha_legacy_member_cert_connections_total).
	// Off by default: an operator certificate with a member's common name
	// is then no member. See docs/security.md, "Migrating certificates".
	AllowLegacyMemberCerts bool `yaml:"allow_legacy_member_certs,omitempty"`
}

// MemberConfig is one initial voter.
type MemberConfig struct {
	// ID is the member's node_id.
	ID string `yaml:"id"`
	// Address is the member's advertised Raft/RPC host:port.
	Address string `yaml:"address"`
	// Role is node or witness.
	Role Role `yaml:"role"`
}

// AWSConfig configures the AWS SDK. Every client honours Endpoint (and the
// standard AWS_ENDPOINT_URL variable) so tests can run against moto_server.
type AWSConfig struct {
	// Region is the AWS region, e.g. ap-northeast-1.
	Region string `yaml:"region"`
	// Endpoint overrides the AWS API endpoint (https://... or http://...).
	Endpoint string `yaml:"endpoint"`
	// InstanceID is this member's EC2 instance id, or "auto" to read it
	// from IMDSv2. Empty means the member is not on EC2.
	InstanceID string `yaml:"instance_id"`
	// CallTimeout is the deadline of each AWS API call (default 10s);
	// throttling and 5xx are retried with backoff inside it.
	CallTimeout Duration `yaml:"call_timeout"`
}

// TimingConfig holds the timings of the safety argument. Validate enforces
// heartbeat ≥ MinHeartbeat, lease ≥ 3 × heartbeat (a lease survives two
// lost heartbeats) and failover_timeout > lease; with fencing.mode
// lease-only also failover_timeout ≥ lease + heartbeat and heartbeat ≥ the
// self-fence grace (100ms). The defaults are 300ms, 1.5s and 2s.
type TimingConfig struct {
	// Heartbeat is how often a member reports to the leader and renews its
	// lease; Raft's own heartbeat is derived from it.
	Heartbeat Duration `yaml:"heartbeat"`
	// Lease is how long an owner may keep acting after its last successful
	// confirmation with the leader.
	Lease Duration `yaml:"lease"`
	// FailoverTimeout is how long the leader waits without hearing from an
	// owner before declaring it lost.
	FailoverTimeout Duration `yaml:"failover_timeout"`
}

// FencingConfig configures fencing. See the failover documentation.
type FencingConfig struct {
	// Mode is aws-stop (default) or lease-only.
	Mode FencingMode `yaml:"mode"`
	// StopDeadline bounds how long self-fencing may take to stop resources
	// before the self-fence action is taken.
	StopDeadline Duration `yaml:"stop_deadline"`
	// SelfFenceAction is reboot, poweroff, exit or none.
	SelfFenceAction SelfFenceAction `yaml:"self_fence_action"`
	// SysrqTrigger is the file written for reboot/poweroff
	// (default /proc/sysrq-trigger); tests point it at a plain file.
	SysrqTrigger string `yaml:"sysrq_trigger"`
	// Watchdog names a watchdog device (e.g. /dev/watchdog) fed only
	// while a lease is valid, or "none". A lease-only node must name one
	// or write none explicitly (then a member whose agent hangs keeps
	// running its resources: see the failover documentation).
	Watchdog WatchdogDevice `yaml:"watchdog"`
	// StopTimeout bounds how long the winner waits for the old owner's
	// instance to reach stopped after StopInstances (default 5m). A fence
	// that does not finish in time failed, and is retried with backoff.
	StopTimeout Duration `yaml:"stop_timeout"`
	// WatchdogTimeout is the timeout set on the watchdog device (whole
	// seconds). It must be at most fencing.stop_deadline + the self-fence
	// grace (see maxWatchdogTimeout); the default is that, rounded down
	// to whole seconds.
	WatchdogTimeout Duration `yaml:"watchdog_timeout"`
}
