package yamlstrict_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
)

type strictInner struct {
	Heartbeat       config.Duration `yaml:"heartbeat"`
	Lease           config.Duration `yaml:"lease"`
	FailoverTimeout config.Duration `yaml:"failover_timeout"`
}

type strictItem struct {
	ID   string `yaml:"id"`
	Port int    `yaml:"port"`
}

type strictEmbedded struct {
	Extra string `yaml:"extra"`
}

type upperString string

func (u *upperString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a word")
	}
	*u = upperString(strings.ToUpper(n.Value))
	return nil
}

type strictDoc struct {
	Name           string            `yaml:"name"`
	Count          int               `yaml:"count"`
	Enabled        bool              `yaml:"enabled"`
	Timing         strictInner       `yaml:"timing"`
	Items          []strictItem      `yaml:"items"`
	Labels         map[string]string `yaml:"labels"`
	Groups         map[string]*strictItem
	Ptr            *strictInner `yaml:"ptr"`
	Word           upperString  `yaml:"word"`
	Any            any          `yaml:"any"`
	Skipped        string       `yaml:"-"`
	strictEmbedded `yaml:",inline"`
}

// wantErr and checkErrs are shared with the config tests.
type wantErr yamlstricttest.WantErr

var checkErrs = yamlstricttest.CheckErrs[wantErr]

var asErrorList = yamlstricttest.AsErrorList

func TestDecodeStrictValid(t *testing.T) {
	src := `name: x
count: 3
enabled: true
timing:
  heartbeat: 300ms
  lease: 1.5s
items:
  - id: a
    port: 1
  - {id: b, port: 2}
labels:
  k1: v1
  k2: v2
groups:
  g1: {id: c}
ptr:
  lease: 2s
word: hello
any: [1, two]
extra: inlined
`
	var d strictDoc
	if err := yamlstrict.DecodeStrict([]byte(src), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "x" || d.Count != 3 || !d.Enabled || d.Extra != "inlined" || d.Word != "HELLO" {
		t.Errorf("scalars: %+v", d)
	}
	if d.Timing.Heartbeat.D() != 300*time.Millisecond || d.Timing.Lease.D() != 1500*time.Millisecond {
		t.Errorf("timing: %+v", d.Timing)
	}
	if len(d.Items) != 2 || d.Items[1].ID != "b" || d.Items[1].Port != 2 {
		t.Errorf("items: %+v", d.Items)
	}
	if d.Labels["k2"] != "v2" || d.Groups["g1"].ID != "c" || d.Ptr == nil || d.Ptr.Lease.D() != 2*time.Second {
		t.Errorf("maps/ptr: %+v %+v %+v", d.Labels, d.Groups, d.Ptr)
	}
	if a, ok := d.Any.([]any); !ok || len(a) != 2 {
		t.Errorf("any: %#v", d.Any)
	}
}

func TestDecodeStrictAnchorsAndMerge(t *testing.T) {
	src := `base: &b {id: a, port: 7}
items:
  - *b
  - <<: *b
    port: 8
`
	var d struct {
		Base  strictItem   `yaml:"base"`
		Items []strictItem `yaml:"items"`
	}
	if err := yamlstrict.DecodeStrict([]byte(src), &d); err != nil {
		t.Fatal(err)
	}
	if d.Items[0] != (strictItem{"a", 7}) || d.Items[1] != (strictItem{"a", 8}) {
		t.Errorf("items: %+v", d.Items)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "unknown top-level key",
			src:  "name: x\nnmae: y\n",
			want: []wantErr{{2, "", `unknown key "nmae" (expected one of: name, count, enabled, timing, items, labels, groups, ptr, word, any, extra)`}},
		},
		{
			name: "unknown nested keys all reported",
			src:  "timing:\n  heartbeat: 1s\n  heartbeet: 1s\n  leese: 2s\nitems:\n  - id: a\n    prot: 1\n",
			want: []wantErr{
				{3, "", `unknown key "heartbeet" in timing (expected one of: heartbeat, lease, failover_timeout)`},
				{4, "", `unknown key "leese" in timing`},
				{7, "", `unknown key "prot" in items[0] (expected one of: id, port)`},
			},
		},
		{
			name: "duplicate keys",
			src:  "name: a\ntiming:\n  lease: 1s\n  lease: 2s\nname: b\n",
			want: []wantErr{
				{4, "", `duplicate key "lease" in timing (first at line 3)`},
				{5, "", `duplicate key "name" (first at line 1)`},
			},
		},
		{
			name: "type errors",
			src:  "count: many\nenabled: maybe\ntiming:\n  lease: 5\nitems: {id: a}\nlabels:\n  k: [1]\n",
			want: []wantErr{
				{1, "count", `expected an integer, got "many"`},
				{2, "enabled", `expected true or false, got "maybe"`},
				{4, "timing.lease", `expected a duration like 500ms or 3s, got "5"`},
				{5, "items", "expected a list, got a mapping"},
				{7, "labels.k", "expected a string, got a list"},
			},
		},
		{
			name: "problems in an anchor are reported once",
			src:  "items:\n  - &a {id: x, bad: 1}\n  - *a\n  - <<: *a\n    port: 2\n",
			want: []wantErr{{2, "", `unknown key "bad" in items[0] (expected one of: id, port)`}},
		},
		{
			name: "mapping expected",
			src:  "timing: 3s\n",
			want: []wantErr{{1, "timing", `expected a mapping of keys, got "3s"`}},
		},
		{
			name: "custom unmarshaler error",
			src:  "word: [a]\n",
			want: []wantErr{{1, "word", "expected a word"}},
		},
		{
			name: "empty document",
			src:  "",
			want: []wantErr{{0, "", "empty document"}},
		},
		{
			name: "comments only",
			src:  "# nothing here\n",
			want: []wantErr{{0, "", "empty document"}},
		},
		{
			name: "null document",
			src:  "---\n~\n",
			want: []wantErr{{0, "", "empty document"}},
		},
		{
			name: "two documents",
			src:  "name: a\n---\nname: b\n",
			want: []wantErr{{3, "", "more than one YAML document"}},
		},
		{
			name: "second document after an empty one",
			src:  "name: a\n---\n---\n# c\ncount: 1\n",
			want: []wantErr{{5, "", "more than one YAML document"}},
		},
		{
			name: "two documents with errors in the first",
			src:  "nam: a\n---\nname: b\n",
			want: []wantErr{
				{1, "", `unknown key "nam"`},
				{3, "", "more than one YAML document"},
			},
		},
		{
			name: "tab indentation",
			src:  "name: a\n\tcount: 1\n",
			want: []wantErr{{2, "", "invalid YAML: found a tab character that violates indentation"}},
		},
		{
			name: "syntax error",
			src:  "name: a\ncount: b: c\n",
			want: []wantErr{{2, "", "invalid YAML: mapping values are not allowed in this context"}},
		},
		{
			name: "top level is a list",
			src:  "- a\n- b\n",
			want: []wantErr{{1, "", "expected a mapping of keys, got a list"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d strictDoc
			checkErrs(t, asErrorList(t, yamlstrict.DecodeStrict([]byte(tt.src), &d)), tt.want)
		})
	}
}

func TestDecodeStrictMapsAndArrays(t *testing.T) {
	type doc struct {
		Ports map[int]string          `yaml:"ports"`
		Pair  [2]int                  `yaml:"pair"`
		Sets  map[string][]strictItem `yaml:"sets"`
	}
	var d doc
	src := "ports:\n  80: http\n  443: https\npair: [1, 2]\nsets:\n  s: [{id: a}]\n"
	if err := yamlstrict.DecodeStrict([]byte(src), &d); err != nil {
		t.Fatal(err)
	}
	if d.Ports[443] != "https" || d.Pair != [2]int{1, 2} || d.Sets["s"][0].ID != "a" {
		t.Fatalf("%+v", d)
	}
	src = "ports:\n  80: http\n  80: www\n  x: y\npair: [1]\nsets:\n  s:\n    - {id: a, nope: 1}\n  <<: 3\n"
	checkErrs(t, asErrorList(t, yamlstrict.DecodeStrict([]byte(src), &doc{})), []wantErr{
		{3, "", `duplicate key "80" in ports (first at line 2)`},
		{4, "ports", `key "x": expected an integer`},
		{5, "pair", "expected a list of 2 items, got 1"},
		{8, "", `unknown key "nope" in sets.s[0]`},
		{9, "sets", `merge key << needs a mapping, got "3"`},
	})
}

func TestDecodeStrictRecursiveAlias(t *testing.T) {
	type node struct {
		Next *node `yaml:"next"`
	}
	var d struct {
		Items []any `yaml:"items"`
		N     *node `yaml:"n"`
	}
	// yaml.v3 rejects or bounds self-reference; either way DecodeStrict
	// must return, with an error.
	for _, src := range []string{"n: &a {next: *a}\n", "items: &a [1, *a]\n", "n: &a {next: {<<: *a}}\n"} {
		err := yamlstrict.DecodeStrict([]byte(src), &d)
		if err == nil || !strings.Contains(err.Error(), "line 1: ") || !strings.Contains(err.Error(), "contains it") {
			t.Errorf("%q: error %v", src, err)
		}
	}
}

func TestDecodeStrictTrailingSeparator(t *testing.T) {
	var d strictDoc
	if err := yamlstrict.DecodeStrict([]byte("---\nname: a\n---\n"), &d); err != nil || d.Name != "a" {
		t.Fatalf("got %q, %v", d.Name, err)
	}
	if err := yamlstrict.DecodeStrict([]byte("name: a\n...\n"), &d); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeStrictNeedsPointer(t *testing.T) {
	var d strictDoc
	if err := yamlstrict.DecodeStrict([]byte("name: x\n"), d); err == nil {
		t.Fatal("non-pointer accepted")
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		e        yamlstrict.FieldError
		want     string
		wantFile string
	}{
		{yamlstrict.FieldError{Line: 7, Path: "timing.lease", Msg: "bad"}, "line 7: timing.lease: bad", "c.yaml:7: timing.lease: bad"},
		{yamlstrict.FieldError{Line: 0, Path: "node_id", Msg: "required"}, "node_id: required", "c.yaml: node_id: required"},
		{yamlstrict.FieldError{Line: 3, Path: "", Msg: "unknown key"}, "line 3: unknown key", "c.yaml:3: unknown key"},
		{yamlstrict.FieldError{Line: 0, Path: "", Msg: "empty document"}, "empty document", "c.yaml: empty document"},
	}
	var list yamlstrict.ErrorList
	var want, wantFile []string
	for _, tt := range tests {
		e := tt.e
		if got := e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		list = append(list, &e)
		want = append(want, tt.want)
		wantFile = append(wantFile, tt.wantFile)
	}
	if got := list.Error(); got != strings.Join(want, "\n") {
		t.Errorf("yamlstrict.ErrorList.Error() = %q", got)
	}
	err := list.WithFile("c.yaml")
	if got := err.Error(); got != strings.Join(wantFile, "\n") {
		t.Errorf("WithFile = %q", got)
	}
	if l := asErrorList(t, err); len(l) != len(list) {
		t.Errorf("errors.As lost errors: %v", l)
	}
	if yamlstrict.ErrorList(nil).WithFile("c.yaml") != nil || yamlstrict.ErrorList(nil).Err() != nil {
		t.Error("empty list is not a nil error")
	}
}

func TestLineOf(t *testing.T) {
	src := `node_id: n1
timing:
  heartbeat: 300ms
members:
  - id: a
    address: x:1
  - id: b
    address: y:1
aws:
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want int
	}{
		{"node_id", 1},
		{"timing", 2},
		{"timing.heartbeat", 3},
		{"timing.lease", 2},           // missing: the enclosing section
		{"members", 4},                // line of the key
		{"members[0]", 5},             // line of the item
		{"members[1].address", 8},     // nested in a list
		{"members[1].role", 7},        // missing: the item
		{"members[5].id", 4},          // index out of range: the list
		{"aws.instance_id", 9},        // section with a null value
		{"node_id.x", 1},              // scalar has no children
		{"data_dir", 0},               // missing at top level
		{"", 0},                       // no path
		{"members[x]", 0},             // malformed
		{"timing..lease", 0},          // malformed
		{"members[0]address", 0},      // malformed
		{"members[1][0]", 7},          // an item is not a list
		{"timing.heartbeat.extra", 3}, // deeper than the tree
	}
	for _, tt := range tests {
		if got := yamlstrict.LineOf(&root, tt.path); got != tt.want {
			t.Errorf("yamlstrict.LineOf(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := yamlstrict.LineOf(root.Content[0], "timing.heartbeat"); got != 3 {
		t.Errorf("yamlstrict.LineOf on the mapping = %d, want 3", got)
	}
	if got := yamlstrict.LineOf(nil, "timing"); got != 0 {
		t.Errorf("yamlstrict.LineOf(nil) = %d", got)
	}
}
