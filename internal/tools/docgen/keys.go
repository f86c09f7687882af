package main

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/disk"
	"github.com/raftha/raftha/resources/exec"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/resources/ip"
	"github.com/raftha/raftha/resources/systemd"
)

// KeyTypes are the definitions a reference table may be checked against
// (<!-- keys: NAME --> above a Markdown table): the member file and the
// parameters of each resource type, as the parsers decode them.
var KeyTypes = map[string]reflect.Type{
	"member":    reflect.TypeOf(config.Config{}),
	"exec":      reflect.TypeOf(exec.Params{}),
	"systemd":   reflect.TypeOf(systemd.Params{}),
	"aws.route": reflect.TypeOf(aws.RouteParams{}),
	"aws.eip":   reflect.TypeOf(aws.EIPParams{}),
	"aws.dns":   reflect.TypeOf(aws.DNSParams{}),
	"aws.ebs":   reflect.TypeOf(aws.EBSParams{}),
	"disk":      reflect.TypeOf(disk.Params{}),
	"ip":        reflect.TypeOf(ip.Params{}),
	"go":        reflect.TypeOf(gohandler.Params{}),
}

// Errors of the keys check.
var (
	ErrUnknownKeyType = errors.New("unknown keys definition")
	ErrNoTable        = errors.New("a keys marker must be followed by a Markdown table")
)

// Keys returns the YAML keys a type defines: leaves (the settings) and
// containers (a struct or list of structs whose keys are under it, e.g.
// "members" for "members[].id"). Nested keys are dotted, list elements
// written "[]".
func Keys(t reflect.Type) (leaves, containers map[string]bool) {
	leaves, containers = map[string]bool{}, map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || (!f.IsExported() && !strings.Contains(opts, "inline")) {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if strings.Contains(opts, "inline") && ft.Kind() == reflect.Struct {
				walk(ft, prefix)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			key := prefix + name
			switch {
			case ft.Kind() == reflect.Struct:
				containers[key] = true
				walk(ft, key+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				containers[key] = true
				walk(ft.Elem(), key+"[].")
			default:
				leaves[key] = true
			}
		}
	}
	walk(t, "")
	return leaves, containers
}

var firstCellKey = regexp.MustCompile("^\\|\\s*`([^`]+)`")

// CheckKeys compares the table below a keys block with the definition it
// names: every setting must have a row, and every row must be a setting
// (or a list or section holding some). It returns one message per
// problem, without the file name.
func CheckKeys(d *Doc, b *Block) ([]string, error) {
	t, ok := KeyTypes[b.Arg]
	if !ok {
		return nil, fmt.Errorf("%w %q (one of %s)", ErrUnknownKeyType, b.Arg, strings.Join(sortedKeys(KeyTypes), ", "))
	}
	leaves, containers := Keys(t)
	rows := map[string]int{}
	for i := b.Start; i < b.End; i++ {
		if m := firstCellKey.FindStringSubmatch(d.Lines[i]); m != nil {
			rows[m[1]] = i + 1
		}
	}
	if len(rows) == 0 {
		return nil, ErrNoTable
	}
	var msgs []string
	for _, k := range sortedKeys(leaves) {
		if _, ok := rows[k]; !ok {
			msgs = append(msgs, fmt.Sprintf("%d: the %s table has no row for `%s`, which %s defines", b.Line, b.Arg, k, t))
		}
	}
	for _, k := range sortedKeys(rows) {
		if !leaves[k] && !containers[k] {
			msgs = append(msgs, fmt.Sprintf("%d: the %s table has a row for `%s`, which %s does not define", rows[k], b.Arg, k, t))
		}
	}
	return msgs, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
