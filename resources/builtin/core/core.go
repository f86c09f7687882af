// Package core owns the resource types that need no cloud API (exec, go,
// disk, ip, systemd): server.DefaultRegistry, so that a Go service that
// embeds raftha links no cloud SDK. builtin.Registry adds the AWS types.
package core

import (
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/disk"
	"github.com/raftha/raftha/resources/exec"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/resources/ip"
	"github.com/raftha/raftha/resources/systemd"
)

// Types are the resource types that need no cloud API.
func Types() []resources.Type {
	return []resources.Type{
		exec.Type,
		gohandler.Type, // `go`: Go callbacks of embedding services (server/embed.go)
		disk.Type, ip.Type, systemd.Type,
	}
}

// Registry returns a new registry with Types.
func Registry() *resources.Registry {
	r := resources.NewRegistry()
	for _, t := range Types() {
		if err := r.Register(t); err != nil {
			panic(err) // two built-in types with one name: a programming error
		}
	}
	return r
}
