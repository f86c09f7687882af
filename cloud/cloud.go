// Package cloud is the seam between a member and the cloud it runs on:
// what the server asks of a provider (its instance id, a fencer that
// force-stops a lost owner, and the settings that the provider's resource
// types read). It imports no cloud SDK, so a Go service that embeds
// raftha without a cloud (lease-only fencing, no cloud resource types)
// links none. The AWS provider is resources/aws.Provider; the `raftha`
// agent always uses it.
package cloud

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// ErrFenceFailed is wrapped by every fencing failure, whichever fencer
// reports it.
var ErrFenceFailed = errors.New("fence failed")

// ErrUnavailable is wrapped (with ErrFenceFailed) by a fencing failure
// that says the cloud's API did not serve the fence (throttling, 5xx,
// unreachable, deadlines) rather than refused it: the fence may be tried
// again soon, since the API can answer again at any moment.
var ErrUnavailable = errors.New("cloud API unavailable")

// Provider opens a member's connection to its cloud, once, when the member
// starts.
type Provider interface {
	// Open resolves the member's instance, builds the fencer when asked
	// for one, and the settings of the provider's resource types. An
	// error stops the member's start.
	Open(ctx context.Context, req Request) (*Env, error)
}

// Request is what a member asks of its Provider.
type Request struct {
	// AWS is the member's aws: settings (region, endpoint, instance_id,
	// call_timeout).
	AWS config.AWSConfig
	// Role is the member's role; a witness needs no data-plane access.
	Role config.Role
	// NeedFencer asks for a fencer: fencing.mode is aws-stop and the
	// embedder gave none.
	NeedFencer bool
	// FenceStopTimeout bounds how long a fence waits for the instance to
	// stop (fencing.stop_timeout).
	FenceStopTimeout time.Duration
	// Observe records one cloud API call: its service, operation, outcome
	// ("ok" or the provider's error code) and duration.
	Observe func(service, op, outcome string, d time.Duration)
	// Logger is the member's logger.
	Logger hclog.Logger
}

// Env is what a Provider gives a member.
type Env struct {
	// InstanceID is the member's instance ("" off the cloud).
	InstanceID string
	// Fencer fences lost owners; nil unless Request.NeedFencer.
	Fencer Fencer
	// Resources is what the provider's resource types read from
	// resources.Env.Cloud (the AWS provider: *aws.Config); nil when the
	// member has no cloud settings, and those types then refuse to build.
	Resources any
	// Permissions builds the start-up permission checks of a node; nil
	// when the provider has none or the member has no cloud settings.
	Permissions Permissions
}

// Fencer stops a lost owner before the winner of a takeover starts
// anything (safety argument, clause 4). Fence returns nil only when the
// node can no longer act: for EC2, when its instance is stopped or
// terminated.
type Fencer interface {
	Fence(ctx context.Context, node fsm.Member) error
}

// VerifyingFencer is a Fencer that first verifies that the instance it
// stops is the node's and says how; the winner records that in the fenced
// event. The EC2 fencer is one.
type VerifyingFencer interface {
	Fencer
	// FenceVerified fences node like Fence and returns what it verified
	// ("i-1 verified by tag raftha:node=n1").
	FenceVerified(ctx context.Context, node fsm.Member) (string, error)
}

// Verdict is the outcome of a permission check.
type Verdict string

// The verdicts of a permission check.
const (
	// PermissionAllowed: the cloud said the call would be allowed.
	PermissionAllowed Verdict = "allowed"
	// PermissionDenied: the cloud said the identity lacks the action.
	PermissionDenied Verdict = "denied"
	// PermissionUnknown: no verdict (network, throttling, ...).
	PermissionUnknown Verdict = "unknown"
)

// PermissionResult is the outcome of one permission check.
type PermissionResult struct {
	// Verdict is allowed, denied or unknown.
	Verdict Verdict
	// Code is the cloud's error code of the last answer.
	Code string
	// Message is the cloud's last answer in words.
	Message string
	// Attempts is how many calls were made.
	Attempts int
}

// PermissionCheck is one advisory check (a dry run) that this node may
// make a cloud call it will need at a failover.
type PermissionCheck struct {
	// Action is the cloud's name of the action, e.g. "ec2:StopInstances".
	Action string
	// Target says what the call was made on.
	Target string
	// Key identifies the check: a check with the same key is not repeated.
	Key string
	// Run makes the check, retrying while it has no verdict, until ctx
	// ends or the provider's bound.
	Run func(ctx context.Context) PermissionResult
}

// Permissions builds a provider's start-up permission checks.
type Permissions interface {
	// StopCheck is the check of force-stopping instance (to fence the
	// node it belongs to); what describes it.
	StopCheck(instance, what string) PermissionCheck
	// Declared is the check a resource type declared
	// (resources.PermissionDeclarer, asked through
	// resources.Registry.PermissionChecks), made through the provider's
	// API client and retried by its policy.
	Declared(c resources.PermissionCheck) PermissionCheck
}
