package resources

import (
	"context"
	"encoding/json"
)

// PermissionDeclarer is implemented by the parameters of a resource type
// whose Start or Stop makes cloud calls that a node can check at start-up
// with a dry run (the agent's permission preflight, GET /v1/health
// aws_permissions). The preflight asks the registry
// (Registry.PermissionChecks) for each resource of the groups that name the
// node, so a type registered by an embedding service declares its own
// checks the same way the built-in AWS types do.
type PermissionDeclarer interface {
	// PermissionChecks returns the dry-run checks of the calls the
	// resource makes with these (decoded) parameters when it starts or
	// stops on the node whose cloud instance is instance (never "").
	PermissionChecks(instance string) []PermissionCheck
}

// PermissionCheck is one dry-run call that shows whether this node may make
// a cloud call its resource will need at a failover. It changes nothing in
// the cloud.
type PermissionCheck struct {
	// Action is the cloud's name of the action, e.g. "ec2:ReplaceRoute".
	Action string
	// Target says what the call is made on ("rtb-0123 10.1.0.10/32 ->
	// i-0456").
	Target string
	// Key identifies the check: a check with the same key (from any
	// resource of any group) is made once.
	Key string
	// Call makes the dry-run call through client and returns the cloud's
	// answer, which the provider classifies (allowed, denied, unknown).
	// client is the provider's API client: for the AWS provider an
	// *ec2.Client (a fake implementing resources/aws.DryRunAPI in tests);
	// a type asserts the interface it needs and returns an error when
	// client lacks it. Call is untyped so that this package links no
	// cloud SDK.
	Call func(ctx context.Context, client any) error
}

// PermissionChecks returns the checks a resource of type typ with params
// (its JSON parameters, as the Raft log holds them) declares
// (PermissionDeclarer) for the node whose instance is instance. It returns
// none when instance is "", the type is not registered or declares none,
// or params do not decode. A nil registry has no types.
func (r *Registry) PermissionChecks(typ string, params json.RawMessage, instance string) []PermissionCheck {
	if r == nil || instance == "" {
		return nil
	}
	t, err := r.Lookup(typ)
	if err != nil {
		return nil
	}
	p := t.NewParams()
	if len(params) > 0 && json.Unmarshal(params, p) != nil {
		return nil
	}
	d, ok := p.(PermissionDeclarer)
	if !ok {
		return nil
	}
	return d.PermissionChecks(instance)
}
