package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/iampolicy"
	"github.com/raftha/raftha/resources/builtin"
)

func iamCommand() *cli.Command {
	return &cli.Command{
		Name:  "iam-policy",
		Usage: "print the least-privilege IAM policy a node needs for a group file",
		Description: `Reads the group file (validated like 'group apply') and prints the IAM policy
document for the nodes' instance role: EC2 StopInstances for aws-stop fencing,
and exactly the actions each AWS resource type uses, scoped to the route
tables, Elastic IP allocations, hosted zones and volumes named in the file.
Describe* actions cannot be scoped in IAM and use "*". A witness needs no AWS
permission.

   raftha iam-policy --groups groups.yaml --region ap-northeast-1 --account 123456789012`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "groups", Aliases: []string{"f"}, Required: true, Usage: "group `FILE` (YAML)"},
			&cli.StringFlag{Name: "fencing", Value: string(config.FencingAWSStop), Usage: "fencing `MODE` the nodes use: aws-stop or lease-only"},
			&cli.StringFlag{Name: "config", Usage: "a node's member configuration `FILE` (takes the fencing mode and region from it)"},
			&cli.StringFlag{Name: "region", Usage: "AWS `REGION` for the ARNs (default: *)"},
			&cli.StringFlag{Name: "account", Usage: "AWS `ACCOUNT` id for the ARNs (default: *)"},
		},
		Action: func(c *cli.Context) error {
			file := c.String("groups")
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			specs, _, errs := groupfile.Parse(data, builtin.Registry())
			if len(errs) > 0 {
				return fmt.Errorf("%s is invalid:\n%w", file, errs.WithFile(file))
			}
			mode, region := config.FencingMode(c.String("fencing")), c.String("region")
			if f := c.String("config"); f != "" {
				cfg, err := config.LoadConfigFile(f)
				if err != nil {
					return err
				}
				mode = cfg.Fencing.Mode
				if region == "" {
					region = cfg.AWS.Region
				}
			}
			if mode != config.FencingAWSStop && mode != config.FencingLeaseOnly {
				return usagef("--fencing %q: must be aws-stop or lease-only", mode)
			}
			pol := iampolicy.ForNode(specs, mode, iampolicy.Scope{Region: region, Account: c.String("account")})
			enc := json.NewEncoder(stdout(c))
			enc.SetIndent("", "  ")
			return enc.Encode(pol)
		},
	}
}
