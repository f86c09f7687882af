// Package builtin owns the set of resource types raftha ships with, for everything that validates or builds group files (agent, CLI, embedding services).
package builtin

import (
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/disk"
	"github.com/raftha/raftha/resources/exec"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/resources/ip"
	"github.com/raftha/raftha/resources/systemd"
)

// Registry returns a new registry with the built-in resource types,
// including `go` (gohandler.Type), whose resources only a server builds.
func Registry() *resources.Registry {
	r := resources.NewRegistry()
	for _, t := range []resources.Type{
		exec.Type,
		gohandler.Type, // `go`: Go callbacks of embedding services (server/embed.go)
		awsres.RouteType, awsres.EIPType, awsres.DNSType, awsres.EBSType,
		disk.Type, ip.Type, systemd.Type,
	} {
		if err := r.Register(t); err != nil {
			panic(err) // two built-in types with one name: a programming error
		}
	}
	return r
}
