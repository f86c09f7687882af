package yamlstrict

import (
	"strconv"
	"strings"
)

// yamlMessage splits a message of yaml.v3 into the line it names (0 when
// none) and the message without its position.
//
// yaml.v3 (v3.0.1) gives a position only in text and exports no typed
// value holding it: a syntax error is a plain error "yaml: line N: MSG"
// (parser.fail, failf), a decoder failure is "yaml: MSG", and each entry of
// a *yaml.TypeError (whose Errors is a []string) is "line N: MSG". This is
// the only place that reads yaml.v3's message text; every other line this
// package reports comes from a yaml.Node. TestYAMLMessageFormat pins the
// three forms against the library, so an upgrade that changes them fails
// there instead of losing lines silently.
func yamlMessage(m string) (line int, msg string) {
	m = strings.TrimPrefix(m, "yaml: ")
	rest, ok := strings.CutPrefix(m, "line ")
	if !ok {
		return 0, m
	}
	num, after, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, m
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0, m
	}
	return n, after
}
