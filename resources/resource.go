// Package resources defines what a failover group runs: the Resource
// interface every type implements, the fencing Token every action carries,
// and the Registry that maps a YAML `type:` to an implementation.
package resources

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Token is the fencing token of one action: the group, the node acting and
// the epoch the Raft log gave it. Resources pass it on (environment,
// tags) so that what they touch can tell a stale owner from the current one.
type Token struct {
	// Group is the failover group the action is for.
	Group string
	// Node is the id of the member acting (the group's owner).
	Node string
	// Epoch is the group's epoch the log gave Node: the fencing token.
	Epoch uint64
	// Resource is the resource's name within the group.
	Resource string
}

// Resource is something a group starts, stops and checks on its owner.
// Start and Stop must be idempotent: Start on a started resource and Stop
// on a stopped one succeed. Every call runs under ctx's deadline.
type Resource interface {
	// Start brings the resource up for tok and verifies it is up.
	Start(ctx context.Context, tok Token) error
	// Stop brings the resource down.
	Stop(ctx context.Context, tok Token) error
	// Check reports whether the resource is healthy (nil) or not.
	Check(ctx context.Context, tok Token) error
}

// Killer is implemented by resources that own processes. Kill ends them
// at once, as a crashed host or systemd's control-group kill would; the
// agent calls it only to simulate a crash (tests, `raftha demo --failover`).
type Killer interface {
	Kill()
}

// Env is what the agent hands a resource type when it builds an instance.
type Env struct {
	// Logger is the resource's sub-logger.
	Logger hclog.Logger
	// DataDir is a directory the resource may use for state.
	DataDir string
	// NodeID is the local member's id.
	NodeID string
	// Cloud is what the member's cloud provider gives its resource types
	// (cloud.Env.Resources): for the AWS provider, the process's single
	// *aws.Config (endpoint override, retryer without client-side quota).
	// nil when the member has no provider or no cloud settings; cloud
	// resource types must then fail to build. It is untyped so that this
	// package links no cloud SDK.
	Cloud any
	// InstanceID is this node's EC2 instance id ("" off EC2).
	InstanceID string
	// CallTimeout is the deadline for each AWS API call.
	CallTimeout time.Duration
	// StopDeadline is the cluster's fencing.stop_deadline: a Stop without
	// an explicit stop_timeout is bounded by min(the type's timeout,
	// StopDeadline). 0 means unknown: the type's timeout alone bounds it.
	StopDeadline time.Duration
	// ResolveVolume maps an EBS volume id to the local block device it is
	// attached as (e.g. /dev/nvme1n1); requested is the device name the
	// volume was attached with (e.g. /dev/xvdf), the fallback off Nitro,
	// or "". The agent passes ebsdev.DevicePath. nil means volume ids
	// cannot be resolved (disk's volume_id then fails with an error saying
	// so; aws.ebs uses ebsdev.DevicePath).
	ResolveVolume func(volumeID, requested string) (string, error)
	// Heartbeat is the cluster's timing.heartbeat: how often the agent
	// calls a FenceChecker while it holds the group (0: unknown).
	Heartbeat time.Duration
	// Handlers is the server's Go callbacks and lease, for the `go` type
	// (gohandler); nil outside a server, where `go` resources fail to
	// build.
	Handlers HandlerHost
}

// StopTimeouter is implemented by the parameters of a resource type that
// has a stop_timeout key. The agent refuses a group whose explicit
// stop_timeout exceeds fencing.stop_deadline: a self-fencing owner cuts a
// longer stop short and takes its hard action instead. Without
// stop_timeout the stop is bounded by min(timeout, stop_deadline) (see
// StopTimeoutOr), which always fits, so there is nothing to check.
type StopTimeouter interface {
	// ExplicitStopTimeout is the stop_timeout parameter (0 when unset or
	// when the type's Stop does nothing that can hang).
	ExplicitStopTimeout() time.Duration
}

// StartTimeouter is implemented by resources whose Start bounds itself
// (a type's timeout parameter). A Start still running well past it
// ignores its deadline (a command stuck in the kernel, a plugin that
// never returns): the agent then gives the group's start slot back so
// that other groups can start on the node, and the resource still counts
// as started.
type StartTimeouter interface {
	// StartTimeout is the longest Start runs when it keeps its own
	// deadline (0: unknown).
	StartTimeout() time.Duration
}

// Validator is implemented by parameter structs that check themselves.
// Errors should name the offending key.
type Validator interface {
	Validate() error
}

// Type describes a resource type: its parameters and how to build it.
type Type struct {
	// Name is the YAML `type:` value, e.g. "exec" or "aws.route".
	Name string
	// NewParams returns a pointer to a zero parameter struct with yaml and
	// json tags; group files are decoded into it strictly.
	NewParams func() any
	// Build makes a Resource from decoded, validated parameters.
	Build func(params any, env Env) (Resource, error)
}

// ErrUnknownType is returned for a type that is not registered.
var ErrUnknownType = errors.New("unknown resource type")

// Registry maps type names to Types. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]Type
	order []string // names in registration order
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]Type{}} }

// Register adds t; registering a name twice is an error.
func (r *Registry) Register(t Type) error {
	if t.Name == "" || t.NewParams == nil || t.Build == nil {
		return fmt.Errorf("resources: type %q needs Name, NewParams and Build", t.Name)
	}
	if err := checkReservedKeys(t); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.types[t.Name]; ok {
		return fmt.Errorf("resources: type %q is already registered", t.Name)
	}
	r.types[t.Name] = t
	r.order = append(r.order, t.Name)
	return nil
}

// Lookup returns the type registered under name.
func (r *Registry) Lookup(name string) (Type, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	if !ok {
		return Type{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownType, name, r.namesLocked())
	}
	return t, nil
}

// Types returns the registered types in the order they were registered
// (iampolicy lists the types' statements in that order).
func (r *Registry) Types() []Type {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Type, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.types[n])
	}
	return out
}

// Names lists the registered type names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
	n := make([]string, 0, len(r.types))
	for k := range r.types {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ReservedKeys are the keys of a group file's resource entry that belong
// to raftha, not to the resource type: a parameter with one of these names
// would never be seen.
var ReservedKeys = []string{"name", "type", "monitor"}

func checkReservedKeys(t Type) error {
	v := reflect.TypeOf(t.NewParams())
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < v.NumField(); i++ {
		key, _, _ := strings.Cut(v.Field(i).Tag.Get("yaml"), ",")
		for _, r := range ReservedKeys {
			if key == r {
				return fmt.Errorf("resources: type %q: parameter %s uses the reserved key %q (reserved: %v)", t.Name, v.Field(i).Name, key, ReservedKeys)
			}
		}
	}
	return nil
}
