package cli

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "create API bearer tokens (for the dashboard and scripts)",
		Subcommands: []*cli.Command{{
			Name:  "create",
			Usage: "print a new random token and the access.tokens entry to add to every member's config",
			Description: `Prints the token once (store it like a password) and the YAML entry with its
SHA-256 to put under access.tokens in every member's configuration; members
never store the token itself. Restart the agents to load it. Use it with
--token (RAFTHA_TOKEN) or in the dashboard.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Required: true, Usage: "token `NAME` (shown as token:NAME in the event history)"},
				&cli.StringFlag{Name: "role", Value: string(api.RoleRead), Usage: "`ROLE`: " + string(api.RoleRead) + " or " + string(api.RoleOperate)},
				jsonFlag(),
			},
			Action: func(c *cli.Context) error {
				role := api.Role(c.String("role"))
				if !role.Valid() {
					return usagef("--role %q: must be %s or %s", role, api.RoleRead, api.RoleOperate)
				}
				tok, sum, err := api.NewToken()
				if err != nil {
					return err
				}
				res := tokenResult{Name: c.String("name"), Role: role, Token: tok, SHA256: sum}
				return emit(c, res, func(w io.Writer) {
					fmt.Fprintf(w, "token: %s\n\nAdd to every member's configuration:\naccess:\n  tokens:\n    - name: %s\n      role: %s\n      sha256: %s\n", tok, res.Name, role, sum)
				})
			},
		}},
	}
}
