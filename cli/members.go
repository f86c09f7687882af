package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list, add and remove Raft members; put nodes on standby",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list members with role, state and health",
				Flags: clientFlags(),
				Action: apiAction(-1, nil, 15*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					ms, err := cl.Members(ctx)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSONOut(c, ms)
					}
					tw := tabwriter.NewWriter(stdout(c), 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "MEMBER\tROLE\tSTATE\tHEALTHY\tVOTER\tADDRESS\tAPI\tINSTANCE")
					for _, m := range ms {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\n", m.ID, m.Role, memberState(m), yesNo(m.Healthy, false), m.Voter, m.Address, dash(m.API), dash(m.InstanceID))
					}
					return tw.Flush()
				}),
			},
			{
				Name:      "add",
				Usage:     "add a member (node or witness) as a Raft voter",
				ArgsUsage: " ",
				Description: `Records the member's role in the log and adds it to the Raft configuration.
Start the new member's agent with a members: list that includes itself and
the existing members; it joins instead of bootstrapping because the cluster
already stores a configuration.`,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "id", Required: true, Usage: "member `ID` (its node_id)"},
					&cli.StringFlag{Name: "address", Required: true, Usage: "its advertised Raft `HOST:PORT`"},
					&cli.StringFlag{Name: "role", Value: string(fsm.RoleNode), Usage: "`ROLE`: node or witness"},
					&cli.StringFlag{Name: "instance-id", Usage: "its EC2 instance `ID` (for fencing)"},
				),
				Action: apiAction(-1, nil, 60*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					a := api.MemberRequest{ID: c.String("id"), Address: c.String("address"), Role: c.String("role"), InstanceID: c.String("instance-id")}
					if err := cl.AddMember(ctx, a); err != nil {
						return err
					}
					return emit(c, a, func(w io.Writer) { fmt.Fprintf(w, "added %s %s at %s\n", a.Role, a.ID, a.Address) })
				}),
			},
			{
				Name:      "remove",
				Usage:     "remove a member that owns no running group",
				ArgsUsage: "ID",
				Flags:     clientFlags(),
				Action: apiAction(1, usagef("members remove takes one member ID"), 60*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
					if err := cl.RemoveMember(ctx, c.Args().First()); err != nil {
						return err
					}
					return emit(c, memberRemovedResult{Removed: c.Args().First()}, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", c.Args().First()) })
				}),
			},
			standbyCommand(true),  // standby.go
			standbyCommand(false), // standby.go
		},
	}
}
