package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftha/raftha/api"
)

// maxCompactError bounds a last error on a `raftha status` row (group
// show prints it whole, as the owner reported it).
const maxCompactError = 80

// printResourceRows writes one compact row per resource under a group's
// row of the `raftha status` table (columns GROUP OWNER EPOCH STATE NODES
// REASON): the name indented, its type, its state, and a summary of its
// checks, failures, restarts and last error.
func printResourceRows(tw io.Writer, g api.GroupStatus) {
	for _, r := range g.ResourceStatus {
		var parts []string
		if c := checkText(r); c != "-" {
			parts = append(parts, "check "+c)
		} else if r.State == api.ResourceRunning && r.LastStart > 0 {
			parts = append(parts, "not checked yet; started in "+durText(r.LastStart))
		}
		if r.ConsecutiveFailures > 0 {
			parts = append(parts, plural(r.ConsecutiveFailures, "failure")+" in a row")
		}
		if r.Restarts > 0 {
			parts = append(parts, plural(r.Restarts, "restart")+" on "+r.Node)
		}
		if r.LastError != "" && (r.State != api.ResourceRunning || r.ConsecutiveFailures > 0 || r.Restarts > 0) {
			parts = append(parts, "last error: "+cutText(oneLine(r.LastError), maxCompactError))
		}
		fmt.Fprintf(tw, "  %s\t%s\t\t%s\t\t%s\n", r.Name, r.Type, r.State, dash(strings.Join(parts, "; ")))
	}
}

// printResourceStatus writes the resource status table of `raftha group
// show`.
func printResourceStatus(w io.Writer, g api.GroupStatus) {
	if len(g.ResourceStatus) == 0 {
		why := "no report from the owner at this epoch yet"
		if g.Owner == "" {
			why = "no owner"
		}
		fmt.Fprintf(w, "Resource status: (%s)\n", why)
		return
	}
	fmt.Fprintf(w, "Resource status (on %s, epoch %d):\n", g.ResourceStatus[0].Node, g.Epoch)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSTATE\tLAST CHECK\tFAILS\tRESTARTS\tSTART\tSTOP\tLAST ERROR")
	for _, r := range g.ResourceStatus {
		lastErr := "-"
		if r.LastError != "" {
			lastErr = oneLine(r.LastError)
			if r.LastErrorAt != nil {
				lastErr = r.LastErrorAt.Local().Format("15:04:05") + " " + lastErr
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Name, r.State, checkText(r), r.ConsecutiveFailures, r.Restarts,
			durText(r.LastStart), durText(r.LastStop), lastErr)
	}
	tw.Flush()
}

// checkText is a resource's last check: its result and the time it
// ended; "-" before the first.
func checkText(r api.ResourceStatus) string {
	if r.LastCheck == nil || r.LastCheckResult == "" {
		return "-"
	}
	return fmt.Sprintf("%s at %s", r.LastCheckResult, r.LastCheck.Local().Format("15:04:05"))
}

func durText(d api.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.D().Round(time.Millisecond).String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine folds a multi-line error (a script's output) onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cutText cuts s to n runes, marking the cut.
func cutText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
