package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/internal/memtune"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/builtin"
	"github.com/raftha/raftha/server"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run a raftha member (node or witness)",
		Description: `Runs one member with the given configuration until SIGINT or SIGTERM.

On the first start with an empty data_dir the member asks the other members
of members: whether the cluster exists, and bootstraps the Raft configuration
only for a brand-new cluster; later starts reuse what Raft stored. A member
whose data_dir was lost while its cluster runs stops with an error (exit 1)
instead of coming back as a voter that forgot its votes and log. To bring it
back: raftha members remove ID, then start it with --rejoin (it never
bootstraps and waits), then raftha members add --id ID --address HOST:PORT.

On SIGTERM a node hands its groups over (planned moves) before it stops,
within --shutdown-timeout.

Check a file first with: raftha config check FILE`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "member configuration `FILE` (YAML)", Required: true, EnvVars: []string{"RAFTHA_CONFIG"}},
			&cli.BoolFlag{Name: "rejoin", Usage: "with an empty data_dir, never bootstrap: wait to be added with raftha members add (after raftha members remove)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 60 * time.Second, Usage: "how long a graceful stop may take to hand groups over"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := config.LoadConfigFile(c.String("config"))
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(c.App.ErrWriter, "raftha: warning: %s\n", w)
			}
			gc := memtune.Tune(cfg.Role, os.Getenv)
			procs := memtune.TuneProcs(cfg.Role, os.Getenv)
			srv, err := server.New(*cfg, server.Options{Rejoin: c.Bool("rejoin"), Cloud: awsres.Provider{}, Registry: builtin.Registry()})
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return err
			}
			srv.Logger().Debug("memory: garbage collector", "gogc", gc.Percent, "reason", gc.Reason)
			srv.Logger().Debug("runtime: GOMAXPROCS", "set", procs.N, "reason", procs.Reason)
			trim := time.AfterFunc(trimAfter, func() { trimStartupPages(srv) })
			defer trim.Stop()
			sig := make(chan os.Signal, 2)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case s := <-sig:
				srv.Logger().Info("signal received; handing groups over and stopping", "signal", s.String())
			case <-srv.Done():
				if err := srv.Err(); err != nil {
					return fmt.Errorf("member stopped: %w", err)
				}
				return fmt.Errorf("member stopped")
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.Duration("shutdown-timeout"))
			defer cancel()
			go func() { // a second signal stops at once
				<-sig
				cancel()
			}()
			return srv.Shutdown(ctx)
		},
	}
}

// trimAfter is how long after its start the agent unmaps the pages of its
// executable that only starting touched (memtune.Trim): the members have
// connected and a leader is elected well within it.
const trimAfter = 15 * time.Second

// trimStartupPages runs memtune.Trim once and logs what it freed.
func trimStartupPages(srv *server.Server) {
	n, err := memtune.Trim()
	if err != nil {
		srv.Logger().Warn("memory: could not unmap start-up pages", "err", err)
		return
	}
	srv.Logger().Debug("memory: unmapped start-up pages of the executable", "bytes", n)
}
