package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/resources/disk"
)

// diskCommand is `raftha disk lock show|init`: the disk resource's lock
// block (lock_device), read and zeroed locally, without an agent.
func diskCommand() *cli.Command {
	timeout := &cli.DurationFlag{Name: "io-timeout", Value: 2 * time.Second, Usage: "bound on each read and write of the lock block"}
	return &cli.Command{
		Name:  "disk",
		Usage: "inspect a disk resource's lock partition (lock_device)",
		Subcommands: []*cli.Command{{
			Name:  "lock",
			Usage: "read or initialize the lock block of a lock_device",
			Subcommands: []*cli.Command{{
				Name:      "show",
				Usage:     "print the owner and epoch in the lock block (direct I/O, read-only)",
				ArgsUsage: "LOCK_DEVICE",
				Flags:     []cli.Flag{timeout, jsonFlag()},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("disk lock show takes one LOCK_DEVICE")
					}
					dev := c.Args().First()
					info, err := disk.ReadLock(dev, c.Duration("io-timeout"))
					if err != nil {
						return err
					}
					return emit(c, lockResultOf(dev, info), func(w io.Writer) {
						if info.Fresh {
							fmt.Fprintf(w, "%s: fresh (all zeros): no owner yet; the next start writes its epoch\n", dev)
							return
						}
						fmt.Fprintf(w, "%s: group %s, owner %s, epoch %d, written %s, %d slots\n", dev, info.Group, info.Owner, info.Epoch,
							info.Written.UTC().Format(time.RFC3339Nano), info.SlotCount)
					})
				},
			}, {
				Name:      "init",
				Usage:     "zero the lock block (a fresh lock); refuses a valid lock without --force",
				ArgsUsage: "LOCK_DEVICE",
				Description: `Zeroes the first 4 KiB of LOCK_DEVICE with direct I/O, synced, and reads them
back. A block that holds a valid lock is refused without --force: zeroing a
held lock lets an owner with a lower epoch mount again, so only do it when
no node has the file system mounted (e.g. after an operator wrote a bad
epoch, or to reuse the partition).`,
				Flags: []cli.Flag{timeout, &cli.BoolFlag{Name: "force", Usage: "zero a block that holds a valid lock"}, jsonFlag()},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("disk lock init takes one LOCK_DEVICE")
					}
					dev := c.Args().First()
					if err := disk.InitLock(dev, c.Duration("io-timeout"), c.Bool("force")); err != nil {
						return err
					}
					return emit(c, lockResult{Device: dev, Fresh: true}, func(w io.Writer) { fmt.Fprintf(w, "%s: lock block zeroed (fresh)\n", dev) })
				},
			}},
		}},
	}
}
