package yamlstrict

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LineOf returns the line of the node at path in root (a document or its
// top mapping). path is dotted with list indexes, e.g. "members[2].address";
// the line of a mapping entry is the line of its key. When path does not
// exist, LineOf returns the line of the deepest ancestor that does, so an
// error about a missing key can point at its section. It returns 0 for an
// empty or unparsable path, a nil root, or a missing top-level key.
func LineOf(root *yaml.Node, path string) int {
	if root == nil || path == "" {
		return 0
	}
	segs, ok := splitLinePath(path)
	if !ok {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return 0
		}
		n = n.Content[0]
	}
	line := 0
	for _, s := range segs {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		var nextLine int
		if s.index >= 0 {
			if n.Kind != yaml.SequenceNode || s.index >= len(n.Content) {
				return line
			}
			next = n.Content[s.index]
			nextLine = next.Line
		} else {
			if n.Kind != yaml.MappingNode {
				return line
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == s.key {
					next, nextLine = n.Content[i+1], k.Line
					break
				}
			}
			if next == nil {
				return line
			}
		}
		n, line = next, nextLine
	}
	return line
}

// linePathSeg is one step of a LineOf path: a key, or a list index (>= 0).
type linePathSeg struct {
	key   string
	index int
}

// splitLinePath parses "a.b[2].c" into steps.
func splitLinePath(path string) ([]linePathSeg, bool) {
	var segs []linePathSeg
	for part := range strings.SplitSeq(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			segs = append(segs, linePathSeg{key: key, index: -1})
		}
		if rest == "" {
			if key == "" {
				return nil, false
			}
			continue
		}
		rest = "[" + rest
		for rest != "" {
			if rest[0] != '[' {
				return nil, false
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, false
			}
			segs = append(segs, linePathSeg{index: i})
			rest = rest[end+1:]
		}
	}
	return segs, true
}
