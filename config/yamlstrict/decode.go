// Package yamlstrict strictly decodes one YAML document into a Go value, reporting every problem with its line, path and the valid keys.
package yamlstrict

import (
	"bytes"
	"context"
	"errors"
	"io"

	"gopkg.in/yaml.v3"
)

// DecodeStrict decodes the single YAML document in data into out, which
// must be a non-nil pointer. Unlike yaml.Unmarshal it refuses anything it
// cannot place: every unknown key (naming the keys that would have been
// valid), every duplicate key, values of the wrong type, an empty document
// and a second document. It reports all of them, each with its line, as an
// ErrorList; on error out may be partly filled. A document past one of
// the limits (MaxInputBytes, MaxNodes, MaxDepth) is refused with an error
// that wraps ErrTooLarge or ErrTooComplex.
func DecodeStrict(data []byte, out any) error {
	_, errs := Decode(data, out)
	return errs.Err()
}

// Decode is DecodeStrict that also returns the parsed root (nil when
// the data does not parse) so callers can look lines up with LineOf.
// Its work is bounded by a Budget of its own; see Budget.Decode for one
// that a context cancels.
func Decode(data []byte, out any) (*yaml.Node, ErrorList) {
	return NewBudget(context.Background()).Decode(data, out)
}

// DecodeNode is DecodeStrict for a node inside a larger document: n is
// decoded into out (a non-nil pointer) and every problem is reported with
// its line, its path prefixed by path. Several nodes of one file should
// share a Budget (Budget.DecodeNode).
func DecodeNode(n *yaml.Node, out any, path string) ErrorList {
	return NewBudget(context.Background()).DecodeNode(n, out, path)
}

// parseSingleYAMLDocument parses data, which must hold exactly one non-empty
// YAML document. The root is returned even when a second document follows,
// so the first can still be checked.
func parseSingleYAMLDocument(data []byte) (*yaml.Node, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{Msg: "empty document: expected a YAML mapping"}}
		}
		return nil, ErrorList{yamlSyntaxError(err)}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || yamlIsNull(root.Content[0]) {
		return nil, ErrorList{{Msg: "empty document: expected a YAML mapping"}}
	}
	// A trailing "---" with nothing after it is harmless; a second
	// document with content is refused.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		switch {
		case errors.Is(err, io.EOF):
			return &root, nil
		case err != nil:
			return &root, ErrorList{yamlSyntaxError(err)}
		case len(next.Content) == 0 || yamlIsNull(next.Content[0]):
			continue
		}
		return &root, ErrorList{{Line: next.Content[0].Line, Msg: "more than one YAML document: the file must hold exactly one (remove the extra ---)"}}
	}
}

// yamlSyntaxError maps a yaml.v3 parse error to a FieldError with its line
// (yamlMessage: yaml.v3 gives it only in the text).
func yamlSyntaxError(err error) *FieldError {
	line, msg := yamlMessage(err.Error())
	return &FieldError{Line: line, Msg: "invalid YAML: " + msg}
}

// yamlIsNull reports whether n is an explicit or implicit YAML null.
func yamlIsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
