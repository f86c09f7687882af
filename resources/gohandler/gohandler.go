// Package gohandler owns the `go` resource type: its name, group-file parameters and their validation, and the resource that runs an embedding service's Go callback under the server's lease (both from resources.Env.Handlers).
package gohandler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/resources"
)

// TypeName is the YAML `type:` of resources that run an OwnerFunc.
// The name is reserved: it always means Type.
const TypeName = "go"

// DefaultStopTimeout is how long Stop waits for an OwnerFunc to
// return after cancelling its context, unless the resource sets
// stop_timeout.
const DefaultStopTimeout = 30 * time.Second

var errNoEmbeddedServer = errors.New("resource type go runs a Go callback (server.OwnerFunc) and only works inside an embedded raftha server: register the handler with server.Options.Handlers or Server.Handle; the raftha agent command has none")

// Params are the YAML settings of a `go` resource:
//
//   - name: writer
//     type: go
//     handler: kv-writer   # the OwnerFunc's name in Options.Handlers
//     stop_timeout: 10s    # optional, default 30s
type Params struct {
	// Handler names the OwnerFunc, as registered with Options.Handlers or
	// Server.Handle on every node of the group.
	Handler string `yaml:"handler" json:"handler"`
	// StopTimeout bounds how long a stop waits for the OwnerFunc to
	// return after its context is cancelled (default 30s).
	StopTimeout *config.Duration `yaml:"stop_timeout" json:"stop_timeout,omitempty"`
}

// Validate implements resources.Validator.
func (p *Params) Validate() error {
	var errs []error
	if strings.TrimSpace(p.Handler) == "" {
		errs = append(errs, errors.New("handler: required: the name of an OwnerFunc the embedding service registers (server.Options.Handlers or Server.Handle)"))
	}
	if p.StopTimeout != nil && p.StopTimeout.D() <= 0 {
		errs = append(errs, fmt.Errorf("stop_timeout: must be greater than 0, got %s", p.StopTimeout))
	}
	return errors.Join(errs...)
}

// EffectiveStopTimeout is StopTimeout, or DefaultStopTimeout when unset.
func (p *Params) EffectiveStopTimeout() time.Duration {
	if p.StopTimeout != nil && p.StopTimeout.D() > 0 {
		return p.StopTimeout.D()
	}
	return DefaultStopTimeout
}

// Type is the `go` resource type. builtin.Registry includes it (and
// server.New adds it to Options.Registry) so that group files using it
// validate everywhere, including `raftha group apply --dry-run`. Build
// needs the server's callbacks and lease in env.Handlers, which a server
// fills for every Build; without them (the raftha agent command has no
// callbacks) it fails.
var Type = resources.Type{
	Name:      TypeName,
	NewParams: func() any { return &Params{} },
	Build: func(params any, env resources.Env) (resources.Resource, error) {
		p, ok := params.(*Params)
		if !ok {
			return nil, fmt.Errorf("go: params are %T, want *gohandler.Params", params)
		}
		return build(p, env)
	},
}
