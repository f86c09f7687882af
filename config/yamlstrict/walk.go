package yamlstrict

import (
	"encoding"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeDurationType    = reflect.TypeFor[time.Duration]()
)

// strictWalker checks a node tree against a Go type and fills the value.
type strictWalker struct {
	errs []*FieldError
	// budget bounds the walk (limits.go).
	budget *Budget
	// seen records the nodes already checked against a type, so an anchor
	// used in several places reports its problems once.
	seen map[strictSeenKey]bool
	// quiet > 0 while re-walking a node already checked.
	quiet int
	// active counts the nodes being walked, to catch alias cycles.
	active map[*yaml.Node]int
	// leaves holds the scalars already decoded, by node and type (an
	// invalid Value when decoding failed), for nodes merged or aliased
	// again (isPlainValueKind types only).
	leaves map[strictSeenKey]reflect.Value
}

type strictSeenKey struct {
	n *yaml.Node
	t reflect.Type
}

// enter marks n as checked against t; it returns a function to call when
// the walk of n ends, and silences errors when n was already checked.
func (w *strictWalker) enter(n *yaml.Node, t reflect.Type) func() {
	if w.seen == nil {
		w.seen = map[strictSeenKey]bool{}
	}
	k := strictSeenKey{n, t}
	if !w.seen[k] {
		w.seen[k] = true
		return func() {}
	}
	w.quiet++
	return func() { w.quiet-- }
}

func (w *strictWalker) fail(n *yaml.Node, path, format string, args ...any) {
	if w.quiet > 0 {
		return
	}
	w.failLoud(n, path, format, args...)
}

// failLoud records an error even while re-walking a checked node: used
// for the problems that stop the walk.
func (w *strictWalker) failLoud(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, &FieldError{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// walk decodes n into v (settable), checking keys against v's type.
func (w *strictWalker) walk(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !w.step(n, path) {
		return
	}
	if depth > MaxDepth {
		w.stop(n, path, ErrTooComplex, fmt.Sprintf("document too complex: nests deeper than %d levels (yamlstrict.MaxDepth)", MaxDepth))
		return
	}
	if n.Kind == yaml.AliasNode {
		alias := n
		if n = resolveYAMLAlias(n); n == nil {
			w.failLoud(alias, path, "unknown alias *%s", alias.Value)
			return
		}
		if w.active[n] > 0 {
			w.failLoud(alias, path, "alias *%s refers to a node that contains it", alias.Value)
			return
		}
	}
	if yamlIsNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	w.active[n]++
	defer func() { w.active[n]-- }()
	defer w.enter(n, v.Type())()
	if isYAMLLeafType(v.Type()) {
		w.decodeLeaf(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		w.walk(n, v.Elem(), path, depth+1)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "expected a mapping of keys, got %s", DescribeNode(n))
			return
		}
		w.walkStruct(n, v, path, depth, map[string]*yaml.Node{})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "expected a mapping of keys, got %s", DescribeNode(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		w.walkMap(n, v, path, depth, map[string]*yaml.Node{})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "expected a list, got %s", DescribeNode(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			w.walk(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "expected a list, got %s", DescribeNode(n))
			return
		}
		if len(n.Content) != v.Len() {
			w.fail(n, path, "expected a list of %d items, got %d", v.Len(), len(n.Content))
			return
		}
		for i, item := range n.Content {
			w.walk(item, v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	default:
		w.decodeLeaf(n, v, path)
	}
}

// isYAMLLeafType reports whether values of t decode themselves.
func isYAMLLeafType(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(yamlUnmarshalerType) || pt.Implements(yamlUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// decodeLeaf decodes n into v with yaml.v3, turning its errors into
// FieldErrors on n's line.
func (w *strictWalker) decodeLeaf(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	custom := isYAMLLeafType(t)
	if !custom && n.Kind != yaml.ScalarNode {
		w.fail(n, path, "expected %s, got %s", describeYAMLType(t), DescribeNode(n))
		return
	}
	if n.Kind != yaml.ScalarNode && !w.chargeTree(n, path) {
		return // yaml.v3 would expand its aliases
	}
	key, cacheable := strictSeenKey{n, t}, n.Kind == yaml.ScalarNode && isPlainValueKind(t.Kind())
	if r, ok := w.leaves[key]; ok && cacheable {
		if r.IsValid() {
			v.Set(r) // a scalar merged or aliased again: decoded once
		}
		return
	}
	target := reflect.New(t)
	err := n.Decode(target.Interface())
	if cacheable {
		if w.leaves == nil {
			w.leaves = map[strictSeenKey]reflect.Value{}
		}
		w.leaves[key] = reflect.Value{}
		if err == nil {
			w.leaves[key] = target.Elem()
		}
	}
	if err != nil {
		var te *yaml.TypeError
		switch {
		case errors.As(err, &te) && !custom:
			w.fail(n, path, "expected %s, got %s", describeYAMLType(t), DescribeNode(n))
		case errors.As(err, &te):
			for _, m := range te.Errors {
				_, msg := yamlMessage(m) // the line is n's
				w.fail(n, path, "%s", msg)
			}
		default:
			_, msg := yamlMessage(err.Error()) // the line is n's
			w.fail(n, path, "%s", msg)
		}
		return
	}
	v.Set(target.Elem())
}

// isPlainValueKind reports whether values of kind k hold no references,
// so one decoded value may be copied to several places.
func isPlainValueKind(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// yamlField is a yaml-tagged field, possibly inside inlined structs.
type yamlField struct {
	name  string
	index []int
}

// yamlFieldsOf lists the keys a struct type accepts, in declaration order.
func yamlFieldsOf(t reflect.Type) []yamlField {
	var out []yamlField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := false
		for o := range strings.SplitSeq(opts, ",") {
			if o == "inline" {
				inline = true
			}
		}
		if inline && f.Type.Kind() == reflect.Struct {
			for _, sub := range yamlFieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{name: name, index: []int{i}})
	}
	return out
}

// isYAMLMergeKey reports whether k is the YAML merge key <<.
func isYAMLMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "")
}

// resolveYAMLAlias follows alias n to its anchored node; nil when the
// anchor is unknown.
func resolveYAMLAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > MaxDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

// merge walks merged mapping src into v with do, refusing a mapping that
// merges itself.
func (w *strictWalker) merge(src *yaml.Node, v reflect.Value, path string, do func()) {
	if !w.step(src, path) {
		return
	}
	if w.active[src] > 0 {
		w.failLoud(src, path, "merge key << refers to a mapping that contains it")
		return
	}
	w.active[src]++
	defer func() { w.active[src]-- }()
	defer w.enter(src, v.Type())()
	do()
}

// mergeSources returns the mappings a merge value names.
func (w *strictWalker) mergeSources(v *yaml.Node, path string) []*yaml.Node {
	resolve := func(n *yaml.Node) *yaml.Node {
		if r := resolveYAMLAlias(n); r != nil {
			return r
		}
		return n
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				w.fail(item, path, "merge key << needs mappings, got %s", DescribeNode(item))
				continue
			}
			out = append(out, item)
		}
		return out
	}
	w.fail(v, path, "merge key << needs a mapping, got %s", DescribeNode(v))
	return nil
}

// entries walks the mappings mapping n merges (<<) into v with walkMerged
// first, so explicit keys override them, then yields n's own entries,
// reporting (and skipping) keys that are not plain strings and keys
// already in seen (merged mappings share seen with the explicit keys).
func (w *strictWalker) entries(n *yaml.Node, v reflect.Value, path string, seen map[string]*yaml.Node, walkMerged func(src *yaml.Node)) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(k, val *yaml.Node) bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; isYAMLMergeKey(k) {
				for _, src := range w.mergeSources(n.Content[i+1], path) {
					w.merge(src, v, path, func() { walkMerged(src) })
				}
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if !w.step(k, path) {
				return
			}
			if isYAMLMergeKey(k) {
				continue
			}
			if k.Kind != yaml.ScalarNode {
				w.fail(k, path, "keys must be plain strings, got %s", DescribeNode(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				w.fail(k, "", "duplicate key %q%s (first at line %d)", k.Value, yamlInSection(path), first.Line)
				continue
			}
			seen[k.Value] = k
			if !yield(k, val) {
				return
			}
		}
	}
}

// walkStruct decodes mapping n into struct v. seen holds the keys already
// set in this mapping (merged mappings share it with the explicit keys).
func (w *strictWalker) walkStruct(n *yaml.Node, v reflect.Value, path string, depth int, seen map[string]*yaml.Node) {
	fields := yamlFieldsOf(v.Type())
	byName := make(map[string]yamlField, len(fields))
	for _, f := range fields {
		byName[f.name] = f
	}
	for k, val := range w.entries(n, v, path, seen, func(src *yaml.Node) {
		w.walkStruct(src, v, path, depth+1, map[string]*yaml.Node{})
	}) {
		f, ok := byName[k.Value]
		if !ok {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			w.fail(k, "", "unknown key %q%s (expected one of: %s)", k.Value, yamlInSection(path), strings.Join(names, ", "))
			continue
		}
		fv, ok := settableFieldByIndex(v, f.index)
		if !ok {
			continue
		}
		w.walk(val, fv, yamlJoinPath(path, k.Value), depth+1)
	}
}

// settableFieldByIndex is FieldByIndex that allocates nil embedded pointers.
func settableFieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, v.CanSet()
}

// walkMap decodes mapping n into map v.
func (w *strictWalker) walkMap(n *yaml.Node, v reflect.Value, path string, depth int, seen map[string]*yaml.Node) {
	kt, et := v.Type().Key(), v.Type().Elem()
	for k, val := range w.entries(n, v, path, seen, func(src *yaml.Node) {
		w.walkMap(src, v, path, depth+1, map[string]*yaml.Node{})
	}) {
		var key reflect.Value
		if kt.Kind() == reflect.String && !isYAMLLeafType(kt) {
			key = reflect.ValueOf(k.Value).Convert(kt)
		} else {
			kp := reflect.New(kt)
			if err := k.Decode(kp.Interface()); err != nil {
				w.fail(k, path, "key %q: expected %s", k.Value, describeYAMLType(kt))
				continue
			}
			key = kp.Elem()
		}
		elem := reflect.New(et).Elem()
		w.walk(val, elem, yamlJoinPath(path, k.Value), depth+1)
		v.SetMapIndex(key, elem)
	}
}

// yamlInSection names the mapping a key sits in, for messages.
func yamlInSection(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

func yamlJoinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// DescribeNode says what kind of YAML value n is, quoting scalars.
func DescribeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "alias *" + n.Value
	}
	return "nothing"
}

// describeYAMLType names the YAML value expected for t.
func describeYAMLType(t reflect.Type) string {
	if t == timeDurationType {
		return "a duration like 500ms or 3s"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	}
	return "a " + t.String()
}
