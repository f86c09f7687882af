// Package builtin owns the set of resource types raftha ships with, for everything that validates or builds group files (agent, CLI, embedding services that use AWS types).
package builtin

import (
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/builtin/core"
)

// Registry returns a new registry with the built-in resource types: the
// core ones (core.Types, `go` included, whose resources only a server
// builds) and the AWS ones (aws.route, aws.eip, aws.dns, aws.ebs), which
// need a member with the AWS cloud provider (server.Options.Cloud).
func Registry() *resources.Registry {
	r := core.Registry()
	for _, t := range []resources.Type{awsres.RouteType, awsres.EIPType, awsres.DNSType, awsres.EBSType} {
		if err := r.Register(t); err != nil {
			panic(err) // two built-in types with one name: a programming error
		}
	}
	return r
}
