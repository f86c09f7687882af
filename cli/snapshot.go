package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/internal/durable"
	"github.com/raftha/raftha/server"
)

// snapshotCommand is `raftha snapshot save|restore FILE`: a backup of the
// cluster state through the leader's API (docs/backup-and-recovery.md).
func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save the cluster state to a file, or restore it (backup; role operate)",
		Subcommands: []*cli.Command{{
			Name:      "save",
			Usage:     "write a consistent snapshot of the cluster state to FILE",
			ArgsUsage: "FILE",
			Description: `The leader takes a consistent Raft snapshot (a follower asked redirects to
the leader) and sends it with a header: format version, Raft index and term,
size, sha256 of the payload and creation time. The file is verified, then
written atomically (a temporary file, fsync, rename) with mode 0600: it holds
every group's parameters.`,
			Flags: clientFlags(),
			Action: apiAction(1, usagef("snapshot save takes one FILE, e.g. `raftha snapshot save backup.snap`"), 60*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
				var buf bytes.Buffer
				h, err := cl.SnapshotSave(ctx, &buf)
				if err != nil {
					return err
				}
				file := c.Args().First()
				if err := durable.WriteFile(file, buf.Bytes(), 0o600); err != nil {
					return err
				}
				return emit(c, snapshotSaved{File: file, SnapshotHeader: *h}, func(w io.Writer) {
					fmt.Fprintf(w, "saved %s: index %d, term %d, %d groups, %d members, %d bytes, sha256 %s, taken by %s at %s\n",
						file, h.Index, h.Term, h.Groups, h.Members, h.Size, h.SHA256, h.Member, h.Created.Format(time.RFC3339))
				})
			}),
		}, {
			Name:      "restore",
			Usage:     "replace the cluster state with a snapshot FILE (every group stopped first)",
			ArgsUsage: "FILE",
			Description: `Verifies FILE (header, size, sha256) here and again on the leader, then
replaces the whole cluster state with it through Raft's Restore: groups,
their epochs and history, members as the snapshot knows them, cluster
settings. The Raft membership is the running cluster's, not the snapshot's.

Every group of the running cluster must be stopped first (raftha group stop
NAME), so that nothing runs while the state is replaced; otherwise the
restore is refused. Every group comes back stopped (offline, suspended) at
its saved epoch; raftha group start NAME places it again at a new epoch. The
members (and their instance ids, which fences name) stay the running
cluster's.

Epochs never go backwards: the restore is written at the highest of the
snapshot's index, the cluster's last index and --epoch-floor, plus
1000000, so every epoch granted afterwards is above any epoch the cluster
that wrote the snapshot could plausibly have granted since.`,
			Flags: append(clientFlags(), &cli.Uint64Flag{Name: "epoch-floor", Usage: "an epoch every later epoch must exceed (the highest one known to be in use, e.g. from raftha disk lock show)"}),
			Action: apiAction(1, usagef("snapshot restore takes one FILE, e.g. `raftha snapshot restore backup.snap`"), 3*time.Minute, func(ctx context.Context, c *cli.Context, cl *api.Client) error {
				file := c.Args().First()
				data, err := readSnapshotFile(file)
				if err != nil {
					return err
				}
				r, err := cl.SnapshotRestore(ctx, data, c.Uint64("epoch-floor"))
				if err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				return emit(c, r, func(w io.Writer) {
					fmt.Fprintf(w, "restored %s (index %d, taken by %s at %s) at index %d: groups %s\n", file, r.Snapshot.Index, r.Snapshot.Member,
						r.Snapshot.Created.Format(time.RFC3339), r.Index, listOrNone(r.Groups))
					if len(r.Replaced) > 0 {
						fmt.Fprintf(w, "restored stopped (offline, suspended): %s; start each with `raftha group start NAME`: it is placed at a new epoch above %d\n", strings.Join(r.Replaced, ", "), r.Index)
					}
				})
			}),
		}},
	}
}

// readSnapshotFile reads a snapshot file, bounded by the largest one.
func readSnapshotFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, api.MaxSnapshotSize+1<<20))
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ", ")
}

// recoverCommand is `raftha recover`: the offline lost-quorum recovery of
// one surviving member (server.RecoverCluster).
func recoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "recover",
		Usage: "after a permanent loss of quorum: rewrite this stopped member's Raft membership to the survivors",
		Description: `For a cluster that lost a majority of its voters for good (two of three
members destroyed). Run it on every surviving member, with its agent
stopped and the same --keep list, then start the agents: the survivors
form a cluster of their own and elect a leader.

--lost names the voters you declare lost; the command refuses (and changes
nothing) unless they are exactly the voters it would drop. Before you run
it, make sure the lost members are gone: their instances terminated or
stopped, or their data_dir wiped. A lost member started again with its old
data_dir still believes in the old membership and, with another such
member, could form a second cluster. To bring one back, wipe its data_dir,
start it with raftha agent --rejoin and add it with raftha members add.

What it does: hashicorp/raft's RecoverCluster (the log and state are kept;
the membership becomes this member plus --keep), then the recovery snapshot
is moved to the last index plus 1000000 (or --epoch-floor plus 1000000):
the lost members may have granted epochs beyond this member's log, and an
epoch must never go backwards. Every group that is active or owes a fence
gets that new epoch, so its owner acts for it only above anything the lost
members granted. Owners are not changed: a group owned by a lost member is
taken over by the new leader the usual way, fenced first (fencing.mode
aws-stop stops the lost instance; lease-only waits the lease). Never run it
on both sides of a split: each side would form its own cluster.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "this member's configuration `FILE` (YAML)", Required: true, EnvVars: []string{"RAFTHA_CONFIG"}},
			&cli.StringSliceFlag{Name: "keep", Usage: "another surviving member `ID` to keep as a voter (repeat); this member is always kept"},
			&cli.StringSliceFlag{Name: "lost", Usage: "a voter `ID` lost for good (repeat); required: must be exactly the voters dropped", Required: true},
			&cli.Uint64Flag{Name: "epoch-floor", Usage: "an epoch every later epoch must exceed (the highest one known to be in use)"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("recover takes no arguments, e.g. `raftha recover --config node3.yaml --lost n1 --lost n2`")
			}
			cfg, err := config.LoadConfigFile(c.String("config"))
			if err != nil {
				return err
			}
			logger := hclog.New(&hclog.LoggerOptions{Name: "raftha", Level: hclog.Warn, Output: c.App.ErrWriter})
			res, err := server.RecoverCluster(*cfg, server.RecoverOptions{Keep: c.StringSlice("keep"), Lost: c.StringSlice("lost"), EpochFloor: c.Uint64("epoch-floor"), Logger: logger})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSONOut(c, res)
			}
			w := stdout(c)
			fmt.Fprintf(w, "recovered %s (data_dir %s)\n", cfg.NodeID, cfg.DataDir)
			fmt.Fprintf(w, "voters before: %s\n", listOrNone(res.Before))
			fmt.Fprintf(w, "voters now:    %s\n", listOrNone(res.After))
			fmt.Fprintf(w, "last index %d; every epoch from now on is above %d\n", res.LastIndex, res.Index)
			if len(res.Regranted) > 0 {
				fmt.Fprintf(w, "groups given the new epoch %d (their owners act only at it): %s\n", res.Index, strings.Join(res.Regranted, ", "))
			}
			for _, g := range slices.Sorted(maps.Keys(res.LostOwned)) {
				fmt.Fprintf(w, "group %s is owned by lost member %s: the new leader takes it over with a fence\n", g, res.LostOwned[g])
			}
			fmt.Fprintf(w, "next: start the agent; run this on every other survivor first. Remove the lost members with `raftha members remove ID` once their groups moved.\n")
			return nil
		},
	}
}

// snapshotSaved is `raftha snapshot save --json`: the file written and
// the snapshot's header.
type snapshotSaved struct {
	File string `json:"file"`
	api.SnapshotHeader
}
