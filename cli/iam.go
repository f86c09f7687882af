package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

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
Instance actions (StopInstances, the instance side of AssociateAddress and
Attach/DetachVolume) name the nodes' instance ARNs when every node's instance
id is known (--instance NODE=ID, or aws.instance_id in the --config files);
otherwise they are limited to instances tagged raftha-cluster=NAME (--cluster
NAME), a tag the operator puts on every node's instance. The ARN partition
follows the region (aws-cn for cn-*, aws-us-gov for us-gov-*). Describe*
actions cannot be scoped in IAM and use "*". A witness needs no AWS
permission. It fails when there is nothing to grant.

   raftha iam-policy --groups groups.yaml --region ap-northeast-1 --account 123456789012 --cluster prod
   raftha iam-policy --groups groups.yaml --config node1.yaml --config node2.yaml --account 123456789012`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "groups", Aliases: []string{"f"}, Required: true, Usage: "group `FILE` (YAML)"},
			&cli.StringFlag{Name: "fencing", Value: string(config.FencingAWSStop), Usage: "fencing `MODE` the nodes use: aws-stop or lease-only"},
			&cli.StringSliceFlag{Name: "config", Usage: "a node's member configuration `FILE` (repeatable: the first gives the fencing mode and region, each its node's aws.instance_id)"},
			&cli.StringSliceFlag{Name: "instance", Usage: "a node's instance id as `NODE=ID` (repeatable)"},
			&cli.StringFlag{Name: "cluster", Usage: "cluster `NAME`: scope instance actions to instances tagged raftha-cluster=NAME when some instance id is unknown"},
			&cli.StringFlag{Name: "region", Usage: "AWS `REGION` for the ARNs (default: *)"},
			&cli.StringFlag{Name: "account", Usage: "AWS `ACCOUNT` id for the ARNs (default: *)"},
			&cli.BoolFlag{Name: "json", Usage: "accepted for symmetry: the policy is always JSON"},
		},
		Action: func(c *cli.Context) error {
			file := c.String("groups")
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			reg := builtin.Registry()
			specs, _, errs := groupfile.Parse(data, reg)
			if len(errs) > 0 {
				return fmt.Errorf("%s is invalid:\n%w", file, errs.WithFile(file))
			}
			mode, region := config.FencingMode(c.String("fencing")), c.String("region")
			instances := map[string]string{}
			for i, f := range c.StringSlice("config") {
				cfg, err := config.LoadConfigFile(f)
				if err != nil {
					return err
				}
				if i == 0 {
					mode = cfg.Fencing.Mode
					if region == "" {
						region = cfg.AWS.Region
					}
				}
				if cfg.AWS.InstanceID != "" && cfg.AWS.InstanceID != "auto" {
					instances[cfg.NodeID] = cfg.AWS.InstanceID
				}
			}
			for _, kv := range c.StringSlice("instance") {
				node, id, ok := strings.Cut(kv, "=")
				if !ok || node == "" || !strings.HasPrefix(id, "i-") {
					return usagef("--instance %q: expected NODE=i-...", kv)
				}
				instances[node] = id
			}
			if mode != config.FencingAWSStop && mode != config.FencingLeaseOnly {
				return usagef("--fencing %q: must be aws-stop or lease-only", mode)
			}
			pol, err := iampolicy.ForNode(reg, specs, mode, iampolicy.Scope{Region: region, Account: c.String("account"), Instances: instances, Cluster: c.String("cluster")})
			if errors.Is(err, iampolicy.ErrUnscoped) {
				return fmt.Errorf("%w (--instance NODE=ID or --config FILE per node, or --cluster NAME)", err)
			}
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout(c))
			enc.SetIndent("", "  ")
			return enc.Encode(pol)
		},
	}
}
