package groupfile

import (
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// Group is a failover group defined in Go, for services that embed raftha
// (server.ApplyGroupSpecs): one entry of the group file as a Go value,
// with the same defaults and the same checks. A problem is reported with
// the group-file path of the field at fault, e.g.
// "groups[0].resources[1].handler: required".
type Group struct {
	// Name identifies the group (`raftha group list`).
	Name string
	// Nodes may own the group, in preference order.
	Nodes []string
	// Failback moves the group back to the first healthy node of Nodes.
	Failback bool
	// Resources start in order and stop in reverse order.
	Resources []Resource
	// StartRetries is how often a failed start is retried on the same
	// node before the group fails over (nil: DefaultStartRetries).
	StartRetries *int
	// StartRetryBackoff is the wait before the first retry, doubling (0:
	// DefaultStartRetryBackoff).
	StartRetryBackoff time.Duration
	// RetryFailedAfter is when a group failed on every node is placed
	// again by itself (nil: DefaultRetryFailedAfter; 0 never).
	RetryFailedAfter *time.Duration
}

// Resource is one resource of a Group.
type Resource struct {
	// Name identifies the resource within its group.
	Name string
	// Type is the resource type, as `type:` in the group file: "go",
	// "exec", "disk", "ip", "systemd", "aws.route", ...
	Type string
	// Params are the type's settings: its parameter struct (for example
	// gohandler.Params{Handler: "primary"} or exec.Params{Run: "..."}), a
	// map[string]any with the group file's keys, or nil for none. They
	// are checked as the group file's keys are: unknown keys and invalid
	// values are refused.
	Params any
	// Monitor overrides the monitor defaults; nil keeps them all.
	Monitor *Monitor
}

// Monitor is a resource's monitor settings; a zero field keeps its default
// (DefaultMonitorInterval, DefaultMonitorTimeout, ...).
type Monitor struct {
	// Interval between checks.
	Interval time.Duration
	// Timeout of one check.
	Timeout time.Duration
	// FailuresBeforeRestart is how many consecutive failed checks restart
	// the resource (nil: DefaultFailuresBeforeRestart).
	FailuresBeforeRestart *int
	// RestartsBeforeFailover is how many restarts fail the group over
	// (nil: DefaultRestartsBeforeFailover; 0 fails over at once).
	RestartsBeforeFailover *int
}

// Specs checks groups exactly as Parse checks a group file and returns
// their specs, or every problem found. The problems name their field by
// its group-file path and carry no line.
func Specs(groups []Group, reg *resources.Registry) ([]fsm.GroupSpec, yamlstrict.ErrorList) {
	data, errs := Marshal(groups)
	if len(errs) > 0 {
		return nil, errs
	}
	specs, _, errs := Parse(data, reg)
	return specs, withoutLines(errs)
}

// Marshal renders groups as a group file (the YAML `raftha group apply -f`
// reads), for review or for a service that hands its groups to the CLI.
// It fails only when a resource's Params cannot be encoded.
func Marshal(groups []Group) ([]byte, yamlstrict.ErrorList) {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	var errs yamlstrict.ErrorList
	for i, g := range groups {
		gn := mapping()
		add(gn, "name", scalar(g.Name))
		nodes := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, n := range g.Nodes {
			nodes.Content = append(nodes.Content, scalar(n))
		}
		add(gn, "nodes", nodes)
		if g.Failback {
			add(gn, "failback", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		}
		if g.StartRetries != nil {
			add(gn, "start_retries", intNode(*g.StartRetries))
		}
		if g.StartRetryBackoff != 0 {
			add(gn, "start_retry_backoff", scalar(g.StartRetryBackoff.String()))
		}
		if g.RetryFailedAfter != nil {
			add(gn, "retry_failed_after", scalar(g.RetryFailedAfter.String()))
		}
		rs := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for j, r := range g.Resources {
			rn, err := encodeResource(r)
			if err != nil {
				errs = append(errs, &yamlstrict.FieldError{Path: fmt.Sprintf("groups[%d].resources[%d]", i, j), Msg: err.Error()})
				continue
			}
			rs.Content = append(rs.Content, rn)
		}
		add(gn, "resources", rs)
		list.Content = append(list.Content, gn)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	root := mapping()
	add(root, "groups", list)
	data, err := yaml.Marshal(root)
	if err != nil {
		return nil, yamlstrict.ErrorList{{Path: "groups", Msg: err.Error()}}
	}
	return data, nil
}

// encodeResource is r as a group-file mapping: name, type, monitor, then
// the params' keys. Params go through their JSON form, whose keys are the
// group file's for every built-in type (and JSON is YAML).
func encodeResource(r Resource) (*yaml.Node, error) {
	n := mapping()
	add(n, "name", scalar(r.Name))
	add(n, "type", scalar(r.Type))
	if m := r.Monitor; m != nil {
		mn := mapping()
		if m.Interval != 0 {
			add(mn, "interval", scalar(m.Interval.String()))
		}
		if m.Timeout != 0 {
			add(mn, "timeout", scalar(m.Timeout.String()))
		}
		if m.FailuresBeforeRestart != nil {
			add(mn, "failures_before_restart", intNode(*m.FailuresBeforeRestart))
		}
		if m.RestartsBeforeFailover != nil {
			add(mn, "restarts_before_failover", intNode(*m.RestartsBeforeFailover))
		}
		add(n, "monitor", mn)
	}
	if r.Params == nil {
		return n, nil
	}
	b, err := json.Marshal(r.Params)
	if err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("params: want a struct or a map, got %T", r.Params)
	}
	for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
		switch k := doc.Content[0].Content[i].Value; k {
		case "name", "type", "monitor":
			return nil, fmt.Errorf("params: key %q is a field of Resource, not a parameter", k)
		}
	}
	n.Content = append(n.Content, doc.Content[0].Content...)
	return n, nil
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.DoubleQuotedStyle}
}

func intNode(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(v)}
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// withoutLines drops the lines of errs: they are lines of the rendered
// file, which the caller never saw.
func withoutLines(errs yamlstrict.ErrorList) yamlstrict.ErrorList {
	for _, e := range errs {
		e.Line = 0
	}
	return errs
}
