package groupfile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/config/yamlstrict/yamlstricttest"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

// bombFile is a group file whose resources merge (<<) a chain of anchors
// that expands to fan^levels mappings each: issue 12's 623-byte file at
// resources 1, fan 9, levels 8.
func bombFile(resources, fan, levels int) string {
	var b strings.Builder
	b.WriteString(yamlstricttest.MergeChain("a", "", "{run: /bin/true}", fan, levels))
	b.WriteString("groups:\n  - name: g\n    nodes: [n1]\n    resources:\n")
	for r := range resources {
		fmt.Fprintf(&b, "      - {name: r%d, type: exec, <<: %s}\n", r, yamlstricttest.MergeRefs("a", levels-1, fan))
	}
	return b.String()
}

// parseWithin parses data, failing t when the parse has not returned
// after limit.
func parseWithin(t *testing.T, limit time.Duration, data string) yamlstrict.ErrorList {
	t.Helper()
	return yamlstricttest.Within(t, limit, "parse", func() yamlstrict.ErrorList {
		_, _, errs := groupfile.Parse([]byte(data), builtin.Registry())
		return errs
	})
}

// TestParseMergeBomb: a group file of nested merge keys (issue 12: 80 s
// of CPU for 623 bytes, hanging `raftha group apply` and agent start) is
// refused with ErrTooComplex at once, also when many resources each
// merge the chain (one budget for the whole file).
func TestParseMergeBomb(t *testing.T) {
	for _, tc := range []struct{ resources, fan, levels int }{{1, 9, 8}, {40, 3, 11}} {
		src := bombFile(tc.resources, tc.fan, tc.levels)
		errs := parseWithin(t, 5*time.Second, src)
		if !errors.Is(errs.Err(), yamlstrict.ErrTooComplex) {
			t.Fatalf("%d bytes: got %v, want ErrTooComplex", len(src), errs)
		}
	}
}

// TestParseContextCancelled: a parse whose request was cancelled stops
// with the context's error instead of finishing the file.
func TestParseContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	specs, _, errs := groupfile.ParseContext(ctx, []byte(bombFile(1, 3, 4)), builtin.Registry())
	if !errors.Is(errs.Err(), context.Canceled) || specs != nil {
		t.Fatalf("got %d specs, %v; want context.Canceled", len(specs), errs)
	}
}
