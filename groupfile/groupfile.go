// Package groupfile parses and checks the failover group file (`raftha group apply -f`) into fsm group specs.
package groupfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// groupFile is the YAML applied by `raftha group apply -f FILE`:
//
//	groups:
//	  - name: db
//	    nodes: [node1, node2]   # preference order
//	    failback: false
//	    resources:              # started in order, stopped in reverse
//	      - name: app
//	        type: exec
//	        run: /usr/local/bin/app
type groupFile struct {
	Groups []groupYAML `yaml:"groups"`
}

type groupYAML struct {
	Name      string         `yaml:"name"`
	Nodes     []string       `yaml:"nodes"`
	Failback  bool           `yaml:"failback"`
	Resources []resourceNode `yaml:"resources"`
	retryYAML `yaml:",inline"`
}

// resourceNode keeps a resource's YAML so it can be decoded strictly
// against the parameters of its type.
type resourceNode struct{ node *yaml.Node }

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *resourceNode) UnmarshalYAML(n *yaml.Node) error {
	r.node = n
	return nil
}

// monitorYAML is a resource's optional monitor: block.
type monitorYAML struct {
	Interval               *config.Duration `yaml:"interval"`
	Timeout                *config.Duration `yaml:"timeout"`
	FailuresBeforeRestart  *int             `yaml:"failures_before_restart"`
	RestartsBeforeFailover *int             `yaml:"restarts_before_failover"`
}

// Monitor defaults: a check every 10s with a 30s timeout; 2 consecutive
// failures restart the resource; after 2 restarts the group fails over.
const (
	DefaultMonitorInterval        = 10 * time.Second
	DefaultMonitorTimeout         = 30 * time.Second
	DefaultFailuresBeforeRestart  = 2
	DefaultRestartsBeforeFailover = 2
)

func (m monitorYAML) spec(line int, path string) (fsm.MonitorSpec, yamlstrict.ErrorList) {
	out := fsm.MonitorSpec{Interval: DefaultMonitorInterval, Timeout: DefaultMonitorTimeout, FailuresBeforeRestart: DefaultFailuresBeforeRestart, RestartsBeforeFailover: DefaultRestartsBeforeFailover}
	var errs yamlstrict.ErrorList
	if m.Interval != nil {
		out.Interval = m.Interval.D()
	}
	if m.Timeout != nil {
		out.Timeout = m.Timeout.D()
		if out.Timeout <= 0 {
			errs = append(errs, &yamlstrict.FieldError{Line: line, Path: path + ".timeout", Msg: "must be greater than 0"})
		}
	}
	if m.FailuresBeforeRestart != nil {
		out.FailuresBeforeRestart = *m.FailuresBeforeRestart
		if out.FailuresBeforeRestart < 1 {
			errs = append(errs, &yamlstrict.FieldError{Line: line, Path: path + ".failures_before_restart", Msg: "must be at least 1"})
		}
	}
	if m.RestartsBeforeFailover != nil {
		out.RestartsBeforeFailover = *m.RestartsBeforeFailover
		if out.RestartsBeforeFailover < 0 {
			errs = append(errs, &yamlstrict.FieldError{Line: line, Path: path + ".restarts_before_failover", Msg: "must be 0 or more"})
		}
	}
	return out, errs
}

// Parse decodes a group file strictly: unknown keys, bad values,
// unknown resource types and invalid parameters are all reported with
// their line. Member-level checks (is each node a member, not a witness)
// need the cluster state and happen when the file is applied. The
// decoder's limits (yamlstrict.MaxInputBytes, MaxNodes, MaxDepth) bound
// the work; see ParseContext.
func Parse(data []byte, reg *resources.Registry) ([]fsm.GroupSpec, *yaml.Node, yamlstrict.ErrorList) {
	return ParseContext(context.Background(), data, reg)
}

// ParseContext is Parse that stops when ctx ends (the API request that
// sent the file was cancelled), with an error wrapping ctx's error. The
// whole file shares one yamlstrict.Budget: past it the error wraps
// yamlstrict.ErrTooComplex.
func ParseContext(ctx context.Context, data []byte, reg *resources.Registry) ([]fsm.GroupSpec, *yaml.Node, yamlstrict.ErrorList) {
	var gf groupFile
	budget := yamlstrict.NewBudget(ctx)
	root, errs := budget.Decode(data, &gf)
	if root == nil || budget.Err() != nil {
		return nil, root, errs
	}
	if len(gf.Groups) == 0 && len(errs) == 0 {
		errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, "groups"), Path: "groups", Msg: "required: a list of groups"})
	}
	var specs []fsm.GroupSpec
	for i, g := range gf.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		spec := fsm.GroupSpec{Name: g.Name, Nodes: g.Nodes, Failback: g.Failback}
		errs = append(errs, g.retryYAML.apply(&spec, root, path)...)
		if g.Name == "" {
			errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, path), Path: path + ".name", Msg: "required"})
		}
		if len(g.Nodes) == 0 {
			errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, path), Path: path + ".nodes", Msg: "required: the nodes that may own the group, in preference order"})
		}
		for j, rn := range g.Resources {
			rpath := fmt.Sprintf("%s.resources[%d]", path, j)
			rs, rerrs := parseResource(budget, rn.node, rpath, reg)
			errs = append(errs, rerrs...)
			if budget.Err() != nil {
				errs.SortByLine()
				return nil, root, errs
			}
			spec.Resources = append(spec.Resources, rs)
		}
		specs = append(specs, spec)
	}
	errs = append(errs, checkLockDevices(root, specs, reg)...)
	errs.SortByLine()
	return specs, root, errs
}

func parseResource(budget *yamlstrict.Budget, n *yaml.Node, path string, reg *resources.Registry) (fsm.ResourceSpec, yamlstrict.ErrorList) {
	var rs fsm.ResourceSpec
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return rs, yamlstrict.ErrorList{{Line: line, Path: path, Msg: "expected a mapping with name, type and the type's settings"}}
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	var typeLine int
	var monitorNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			rs.Name = v.Value
		case "type":
			rs.Type, typeLine = v.Value, v.Line
		case "monitor":
			monitorNode = v
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	var errs yamlstrict.ErrorList
	var mon monitorYAML
	monLine := n.Line
	if monitorNode != nil {
		monLine = monitorNode.Line
		errs = append(errs, budget.DecodeNode(monitorNode, &mon, path+".monitor")...)
	}
	spec, merrs := mon.spec(monLine, path+".monitor")
	errs = append(errs, merrs...)
	rs.Monitor = spec
	if rs.Name == "" {
		errs = append(errs, &yamlstrict.FieldError{Line: n.Line, Path: path + ".name", Msg: "required"})
	}
	if rs.Type == "" {
		return rs, append(errs, &yamlstrict.FieldError{Line: n.Line, Path: path + ".type", Msg: "required (one of: " + strings.Join(reg.Names(), ", ") + ")"})
	}
	t, err := reg.Lookup(rs.Type)
	if err != nil {
		return rs, append(errs, &yamlstrict.FieldError{Line: typeLine, Path: path + ".type", Msg: fmt.Sprintf("unknown resource type %q (known: %s)", rs.Type, strings.Join(reg.Names(), ", "))})
	}
	p := t.NewParams()
	if perrs := budget.DecodeNode(rest, p, path); len(perrs) > 0 {
		return rs, append(errs, perrs...)
	}
	if v, ok := p.(resources.Validator); ok {
		if err := v.Validate(); err != nil {
			for _, msg := range problems(err) {
				errs = append(errs, &yamlstrict.FieldError{Line: n.Line, Path: path, Msg: msg})
			}
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		errs = append(errs, &yamlstrict.FieldError{Line: n.Line, Path: path, Msg: err.Error()})
	}
	rs.Params = b
	return rs, errs
}

// problems returns one message per problem a Validator reported: the
// leaves of the errors.Join tree the types return (read with Unwrap() []error,
// not by splitting the text), or err's message when it joins nothing. A
// problem whose message spans lines (a command's output) stays one.
func problems(err error) []string {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range j.Unwrap() {
		if e != nil {
			out = append(out, problems(e)...)
		}
	}
	return out
}

// PathErrors turns fsm.FieldErrors into FieldErrors with lines; any other
// error keeps its message, without a path or line.
func PathErrors(root *yaml.Node, errs []error) yamlstrict.ErrorList {
	var out yamlstrict.ErrorList
	for _, e := range errs {
		path, msg := "", e.Error()
		var fe *fsm.FieldError
		if errors.As(e, &fe) {
			path, msg = fe.Path, fe.Msg
		}
		out = append(out, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, path), Path: path, Msg: msg})
	}
	out.SortByLine()
	return out
}
