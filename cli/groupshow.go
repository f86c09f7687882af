package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

func groupShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one group: its applied spec, status and recent ownership changes",
		ArgsUsage: "GROUP",
		Description: `Shows the group as applied (nodes, failback, resources with their type,
settings and monitor), its status (owner, epoch, state, reason, suspended,
nodes where it failed) and its last ownership changes (the tail of
'raftha why GROUP').`,
		Flags: clientFlags(),
		Action: apiAction(1, usagef("group show takes one GROUP name"), 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			d, err := cl.Group(ctx, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSONOut(c, d)
			}
			printGroupDetail(stdout(c), d)
			return nil
		}),
	}
}

func printGroupDetail(w io.Writer, d *api.GroupDetail) {
	g := d.Status
	if d.Stale {
		fmt.Fprintf(w, "STALE: %s's own view (%s)\n", d.AnsweredBy, d.StaleReason)
	}
	fmt.Fprintf(w, "Group %s\n", g.Name)
	fmt.Fprintf(w, "  owner      %s\n", dash(g.Owner))
	fmt.Fprintf(w, "  epoch      %d\n", g.Epoch)
	since := ""
	if !g.Since.IsZero() {
		since = fmt.Sprintf(" since %s", g.Since.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(w, "  state      %s%s\n", groupState(g), since)
	fmt.Fprintf(w, "  reason     %s\n", dash(g.Reason))
	if g.Suspended {
		fmt.Fprintf(w, "  suspended  yes: no monitoring, no automatic action (resume with `raftha group resume %s`)\n", g.Name)
	} else {
		fmt.Fprintln(w, "  suspended  no")
	}
	fmt.Fprintf(w, "  failed on  %s\n", dash(strings.Join(g.FailedOn, ", ")))
	if g.Target != "" {
		fmt.Fprintf(w, "  moving to  %s\n", g.Target)
	}
	if g.FenceNode != "" {
		fmt.Fprintf(w, "  fencing    %s\n", g.FenceNode)
	}
	nodes := d.Spec.Nodes
	if len(nodes) == 0 {
		nodes = g.Nodes
	}
	fmt.Fprintf(w, "  nodes      %s (home %s)\n", dash(strings.Join(nodes, ", ")), dash(first(nodes)))
	fmt.Fprintf(w, "  failback   %s\n", map[bool]string{true: "yes", false: "no"}[d.Spec.Failback])
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Resources (start order; stopped in reverse):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tMONITOR\tSETTINGS")
	for _, r := range d.Spec.Resources {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Name, r.Type, monitorText(r.Monitor), settingsText(r.Settings))
	}
	tw.Flush()
	fmt.Fprintln(w)
	printResourceStatus(w, g) // resstatus.go
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Recent ownership changes (last %d; all of them: raftha why %s):\n", api.MaxGroupChanges, g.Name)
	if len(d.Changes) == 0 {
		fmt.Fprintln(w, "  (none: never placed)")
	}
	for _, ch := range d.Changes {
		fmt.Fprintf(w, "  %s\n", ch)
	}
}

func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// monitorText formats a resource's monitor for a table cell.
func monitorText(m api.MonitorSpec) string {
	if m.Interval <= 0 {
		return "none"
	}
	return fmt.Sprintf("every %s, timeout %s, restart after %d failure(s), fail over after %d restart(s)",
		m.Interval, m.Timeout, m.FailuresBeforeRestart, m.RestartsBeforeFailover)
}

// maxSettingLen bounds one setting's value in a table cell.
const maxSettingLen = 60

// settingsText formats a resource's settings as key=value, by key, each
// value cut at maxSettingLen characters (--json shows them whole).
func settingsText(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return dash(string(raw))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := string(m[k])
		var str string
		if json.Unmarshal(m[k], &str) == nil {
			v = fmt.Sprintf("%q", str)
		}
		if r := []rune(v); len(r) > maxSettingLen {
			v = string(r[:maxSettingLen-1]) + "…"
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}
