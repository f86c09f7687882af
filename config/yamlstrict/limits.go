package yamlstrict

import (
	"context"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Limits of one decode (documented in docs/configuration.md,
// "Limits"). A document past one is refused with a FieldError that names
// the limit and wraps ErrTooLarge or ErrTooComplex.
const (
	// MaxInputBytes bounds the length of a document.
	MaxInputBytes = 4 << 20
	// MaxNodes bounds the nodes one decode walks, counting a node again
	// each time an alias or a merge key (<<) repeats it: a few hundred
	// bytes of nested merge keys would otherwise expand to billions.
	MaxNodes = 100_000
	// MaxDepth bounds how deeply mappings and lists nest.
	MaxDepth = 200
)

// ctxCheckEvery is how many nodes the walk takes between two looks at
// its context.
const ctxCheckEvery = 1024

// Budget bounds the work of decoding one file, across the Decode and
// DecodeNode calls that share it, and stops the work when its context
// ends (an API request cancelled by its client, say). A Budget is not
// safe for concurrent use.
type Budget struct {
	ctx  context.Context
	used int
	// err is why the work stopped: ErrTooComplex or the context's error.
	err error
}

// NewBudget returns a Budget of MaxNodes nodes cancelled with ctx.
func NewBudget(ctx context.Context) *Budget { return &Budget{ctx: ctx} }

// Err is why b stopped the work (ErrTooComplex, or its context's
// error); nil while it goes on.
func (b *Budget) Err() error { return b.err }

// Decode is the package's Decode within b: it stops with a FieldError
// wrapping ErrTooLarge, ErrTooComplex or the context's error when b runs
// out or its context ends.
func (b *Budget) Decode(data []byte, out any) (*yaml.Node, ErrorList) {
	rv := reflect.ValueOf(out)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, ErrorList{{Msg: fmt.Sprintf("DecodeStrict needs a non-nil pointer, got %T", out)}}
	}
	if len(data) > MaxInputBytes {
		return nil, ErrorList{{Msg: fmt.Sprintf("document too large: more than %d bytes (yamlstrict.MaxInputBytes)", MaxInputBytes), Err: ErrTooLarge}}
	}
	if err := b.ctx.Err(); err != nil {
		return nil, ErrorList{{Msg: "decoding stopped: " + err.Error(), Err: err}}
	}
	root, errs := parseSingleYAMLDocument(data)
	if root == nil {
		return nil, errs
	}
	w := b.walker()
	w.walk(root.Content[0], rv.Elem(), "", 0)
	errs = append(errs, w.errs...)
	errs.SortByLine()
	return root, errs
}

// DecodeNode is the package's DecodeNode within b.
func (b *Budget) DecodeNode(n *yaml.Node, out any, path string) ErrorList {
	w := b.walker()
	w.walk(n, reflect.ValueOf(out).Elem(), path, 0)
	return w.errs
}

func (b *Budget) walker() *strictWalker {
	return &strictWalker{active: map[*yaml.Node]int{}, budget: b}
}

// step charges one node (n, at path) to the walk's budget. It returns
// false, having recorded why once, when the walk must stop: the budget
// ran out or its context ended.
func (w *strictWalker) step(n *yaml.Node, path string) bool {
	b := w.budget
	if b.err != nil {
		return false
	}
	b.used++
	if b.used > MaxNodes {
		w.stop(n, path, ErrTooComplex, fmt.Sprintf("document too complex: aliases and merge keys (<<) expand it past %d nodes (yamlstrict.MaxNodes)", MaxNodes))
		return false
	}
	if b.used%ctxCheckEvery == 1 {
		if err := b.ctx.Err(); err != nil {
			w.stop(n, path, err, "decoding stopped: "+err.Error())
			return false
		}
	}
	return true
}

// stop ends the walk for err, recording it once with n's line.
func (w *strictWalker) stop(n *yaml.Node, path string, err error, msg string) {
	w.budget.err = err
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, &FieldError{Line: line, Path: path, Msg: msg, Err: err})
}

// chargeTree charges every node yaml.v3 would build from n (aliases
// followed) before it decodes n as a leaf; false when the walk must stop.
func (w *strictWalker) chargeTree(n *yaml.Node, path string) bool {
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !w.step(x, path) {
			return false
		}
		if x.Kind == yaml.AliasNode {
			if x.Alias != nil {
				stack = append(stack, x.Alias)
			}
			continue
		}
		stack = append(stack, x.Content...)
	}
	return true
}
