package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

func groupCommand() *cli.Command {
	return &cli.Command{
		Name:  "group",
		Usage: "define and list failover groups",
		Subcommands: []*cli.Command{
			{
				Name:      "apply",
				Usage:     "create or update the groups in a YAML file (all of them, or none)",
				ArgsUsage: " ",
				Description: `Validates the file strictly (unknown keys, bad values, unknown resource
types, nodes that are not members or are witnesses) and applies every group
in it in one Raft entry. On any error nothing is applied and every problem is
listed as FILE:LINE. Groups not in the file are left as they are.

Example file:

   groups:
     - name: db
       nodes: [node1, node2]      # preference order
       resources:                 # started in order, stopped in reverse
         - name: app
           type: exec
           run: /usr/local/bin/app --listen 0.0.0.0:8080
           check: curl -fsS http://127.0.0.1:8080/health`,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "group `FILE` (YAML)"},
					&cli.BoolFlag{Name: "dry-run", Usage: "validate the file locally and stop"},
				),
				Action: func(c *cli.Context) error {
					file := c.String("file")
					data, err := os.ReadFile(file)
					if err != nil {
						return err
					}
					specs, _, errs := groupfile.Parse(data, builtin.Registry())
					if len(errs) > 0 {
						return invalidGroupFile(c, file, errs)
					}
					if c.Bool("dry-run") {
						res := dryRunResult{File: file, Valid: true}
						for _, s := range specs {
							res.Groups = append(res.Groups, s.Name)
						}
						return emit(c, res, func(w io.Writer) { fmt.Fprintf(w, "%s: valid (not applied: --dry-run)\n", file) })
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					ctx, cancel := timeoutCtx(c, 60*time.Second)
					defer cancel()
					res, err := cl.ApplyGroups(ctx, data)
					var ae *api.Error
					if errors.As(err, &ae) && len(ae.Errors) > 0 {
						return invalidGroupFile(c, file, yamlstrict.ErrorList(ae.Errors))
					}
					if err != nil {
						return err
					}
					return emit(c, res, func(w io.Writer) {
						fmt.Fprintf(w, "applied %d group(s): %s\n", len(res.Applied), strings.Join(res.Applied, ", "))
					})
				},
			},
			{
				Name:  "list",
				Usage: "list groups with owner, epoch and state",
				Flags: append(clientFlags(), watchFlags()...),
				Action: viewAction("group list", 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client, w io.Writer) error {
					gs, err := cl.Groups(ctx)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSONOut(c, gs)
					}
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "GROUP\tOWNER\tEPOCH\tSTATE\tNODES\tRESOURCES\tREASON")
					for _, g := range gs {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", g.Name, dash(g.Owner), g.Epoch, groupState(g), strings.Join(g.Nodes, ","), strings.Join(g.Resources, ", "), dash(g.Reason))
					}
					return tw.Flush()
				}),
			},
			groupShowCommand(),
			suspendCommand(true),
			suspendCommand(false),
			{
				Name:      "stop",
				Usage:     "stop a group on its owner and keep it stopped (suspends it)",
				ArgsUsage: "GROUP",
				Description: `Suspends the group, stops its resources on the owner in reverse order, and
waits until it is offline. It stays offline (nothing places it) until
'raftha group start GROUP'. Use it before 'raftha group delete'.`,
				Flags: clientFlags(),
				Action: apiAction(1, usagef("group stop takes one GROUP name"), 3*time.Minute, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					g, err := cl.Stop(ctx, c.Args().First())
					if err != nil {
						return err
					}
					return emit(c, g, func(w io.Writer) {
						fmt.Fprintf(w, "group %s is %s (suspended; start it with `raftha group start %s`)\n", g.Name, g.State, g.Name)
					})
				}),
			},
			{
				Name:      "start",
				Usage:     "resume a stopped or suspended group (the leader places it)",
				ArgsUsage: "GROUP",
				Flags:     clientFlags(),
				Action: apiAction(1, usagef("group start takes one GROUP name"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					if err := cl.Resume(ctx, c.Args().First()); err != nil {
						return err
					}
					return emit(c, groupActionResult{Group: c.Args().First(), Action: "started"}, func(w io.Writer) {
						fmt.Fprintf(w, "group %s resumed; the leader places it on the first healthy node of its list\n", c.Args().First())
					})
				}),
			},
			fenceOverrideCommand(),
			{
				Name:      "delete",
				Usage:     "delete a group that is offline or failed",
				ArgsUsage: "GROUP",
				Flags:     clientFlags(),
				Action: apiAction(1, usagef("group delete takes one GROUP name"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					if err := cl.DeleteGroup(ctx, c.Args().First()); err != nil {
						return err
					}
					return emit(c, groupActionResult{Group: c.Args().First(), Action: "deleted"}, func(w io.Writer) {
						fmt.Fprintf(w, "deleted group %s\n", c.Args().First())
					})
				}),
			},
		},
	}
}

// invalidGroupFile is the error of group apply for a file with errs;
// with --json it first prints them as a dryRunResult with Valid false.
func invalidGroupFile(c *cli.Context, file string, errs yamlstrict.ErrorList) error {
	if c.Bool("json") {
		if err := writeJSONOut(c, dryRunResult{File: file, Errors: errs}); err != nil {
			return err
		}
		return fmt.Errorf("%s is invalid; nothing was applied: %d problem(s)", file, len(errs))
	}
	return fmt.Errorf("%s is invalid; nothing was applied:\n%w", file, errs.WithFile(file))
}

// exitInProgress is the exit status of `raftha ownership transfer` when the
// move was committed but did not finish within --timeout.
const exitInProgress = 3

func ownershipCommand() *cli.Command {
	return &cli.Command{
		Name:  "ownership",
		Usage: "move failover groups between nodes",
		Subcommands: []*cli.Command{
			{
				Name:      "transfer",
				Usage:     "planned move of a group to another node",
				ArgsUsage: "GROUP --to NODE",
				Description: `Stops the group on its owner (resources in reverse order), commits the new
owner with a new epoch, and starts it on NODE. Returns when the group is
online on NODE, or fails with the reason and a non-zero exit. Refused when
NODE is a witness, unknown, not in the group's nodes, or not healthy, and
when the cluster has no quorum. A planned move needs no fencing.

Exit status:
  0  the group is online on NODE
  1  the move was refused or failed (the message says where the group is)
  2  usage error
  3  the move was committed but did not finish within --timeout: it goes on
     (the group has a new epoch and is moving to NODE); follow it with
     raftha status`,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "to", Required: true, Usage: "destination `NODE`"},
					&cli.DurationFlag{Name: "timeout", Value: api.DefaultTransferTimeout, Usage: "how long to wait for the group to be online on NODE"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("ownership transfer takes one GROUP name, e.g. `raftha ownership transfer db --to node2`")
					}
					group := c.Args().First()
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					ctx, cancel := timeoutCtx(c, c.Duration("timeout")+10*time.Second)
					defer cancel()
					start := time.Now()
					g, err := cl.Transfer(ctx, group, api.TransferRequest{To: c.String("to"), Timeout: c.Duration("timeout").String()})
					if errors.Is(err, api.ErrInProgress) {
						return cli.Exit(fmt.Sprintf("transfer of %s to %s is still in progress after %s: the move was committed (epoch %d, %s on %s) and goes on; follow it with raftha status",
							group, c.String("to"), c.Duration("timeout"), g.Epoch, g.State, g.Owner), exitInProgress)
					}
					if err != nil {
						return fmt.Errorf("transfer of %s to %s failed: %w", group, c.String("to"), err)
					}
					return emit(c, g, func(w io.Writer) {
						fmt.Fprintf(w, "group %s is online on %s at epoch %d (took %s)\n", g.Name, g.Owner, g.Epoch, time.Since(start).Round(time.Millisecond))
					})
				},
			},
		},
	}
}

func suspendCommand(suspend bool) *cli.Command {
	name, usage, desc := "suspend", "pause monitoring and automatic actions of a group (maintenance)", `While suspended, a group's resource checks do not run and the leader takes no
automatic action for it: no placement, no restart, no failover on a failed
check or a lost node, no failback. Planned moves still work. An owner whose
lease runs out still fences itself: safety is never suspended.`
	if !suspend {
		name, usage, desc = "resume", "resume monitoring and automatic actions of a group", `Resumes monitoring and automatic actions, and forgets the nodes where the group
failed so that automatic recovery may use them again.`
	}
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		Description: desc,
		ArgsUsage:   "GROUP",
		Flags:       clientFlags(),
		Action: apiAction(1, usagef("group %s takes one GROUP name", name), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			call := cl.Resume
			if suspend {
				call = cl.Suspend
			}
			if err := call(ctx, c.Args().First()); err != nil {
				return err
			}
			done := strings.TrimSuffix(name, "e") + "ed"
			return emit(c, groupActionResult{Group: c.Args().First(), Action: done}, func(w io.Writer) {
				fmt.Fprintf(w, "group %s %s\n", c.Args().First(), done)
			})
		}),
	}
}

func fenceOverrideCommand() *cli.Command {
	return &cli.Command{
		Name:      "fence-override",
		Usage:     "accept the risk that a node still runs a group: end its fencing or its failed stop",
		ArgsUsage: "GROUP --accept-risk REASON",
		Description: `For a group stuck in fencing (the winner cannot fence the previous owner, or
is lost itself), marks the previous owner fenced: the group starts on its
owner. For a group whose stop failed, marks it stopped: it may move again.
raftha cannot check what you claim: only do this once you know the node runs
nothing of the group (its instance is stopped, its host powered off). Your
identity and REASON are recorded in the log; 'raftha why GROUP' shows them.`,
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "accept-risk", Required: true, Usage: "why you accept the risk (`REASON`, recorded in the log)"},
		),
		Action: apiAction(1, usagef("group fence-override takes one GROUP name, e.g. `raftha group fence-override db --accept-risk \"n1 powered off in the console\"`"), 30*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
			risk := c.String("accept-risk")
			g, err := cl.FenceOverride(ctx, c.Args().First(), risk)
			if err != nil {
				return err
			}
			return emit(c, g, func(w io.Writer) {
				fmt.Fprintf(w, "group %s: fence overridden; it is %s on %s at epoch %d (risk accepted: %s)\n", g.Name, g.State, dash(g.Owner), g.Epoch, risk)
			})
		}),
	}
}
