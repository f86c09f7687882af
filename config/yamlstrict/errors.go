package yamlstrict

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a configuration: where it is (Line, the
// 1-based line in the YAML file, 0 when unknown; Path, the dotted key path
// such as "timing.lease" or "members[1].address") and what is wrong (Msg).
type FieldError struct {
	// Line is the 1-based line in the YAML file; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Path is the dotted key path, e.g. "timing.lease"; "" when unknown.
	Path string `json:"path,omitempty"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
	// Err is the sentinel the problem stands for (ErrTooComplex,
	// ErrTooLarge, a context error), nil for a plain mistake in the
	// file. It is not sent over the API.
	Err error `json:"-"`
}

// The sentinels of the decoder's limits (see Limits in limits.go):
// errors.Is matches them in a FieldError, an ErrorList and the error of
// ErrorList.WithFile.
var (
	// ErrTooComplex: aliases and merge keys expand the document past
	// MaxNodes, or it nests deeper than MaxDepth.
	ErrTooComplex = errors.New("YAML document too complex")
	// ErrTooLarge: the input is longer than MaxInputBytes.
	ErrTooLarge = errors.New("YAML document too large")
)

// Unwrap returns the sentinel e stands for; nil for a plain mistake.
func (e *FieldError) Unwrap() error { return e.Err }

// Error formats e as "line N: PATH: MSG", leaving out the parts that are
// empty.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// format renders e for a named file as "FILE:LINE: PATH: MSG", leaving out
// the line and the path when they are unknown.
func (e *FieldError) format(file string) string {
	var b strings.Builder
	b.WriteString(file)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a configuration. Its Error method
// gives one problem a line.
type ErrorList []*FieldError

// Error joins the errors, one a line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Unwrap returns the problems, so that errors.Is finds a sentinel any of
// them stands for.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// WithFile returns l as an error whose message gives every problem a line
// of the form "FILE:LINE: PATH: MSG", or nil when l is empty. errors.As
// recovers the ErrorList from it.
func (l ErrorList) WithFile(name string) error {
	if len(l) == 0 {
		return nil
	}
	return &fileErrorList{file: name, list: l}
}

// SortByLine orders l by line, keeping the order of errors on the same
// line. Errors without a line come first.
func (l ErrorList) SortByLine() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
}

// fileErrorList is an ErrorList that names its file.
type fileErrorList struct {
	file string
	list ErrorList
}

// Error gives every problem a line of the form "FILE:LINE: PATH: MSG".
func (f *fileErrorList) Error() string {
	lines := make([]string, len(f.list))
	for i, e := range f.list {
		lines[i] = e.format(f.file)
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the ErrorList, for errors.As.
func (f *fileErrorList) Unwrap() error { return f.list }
