package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/server"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run a raftha member (node or witness)",
		Description: `Runs one member with the given configuration until SIGINT or SIGTERM.

On the first start with an empty data_dir the member bootstraps the Raft
configuration from members:; later starts reuse what Raft stored. On SIGTERM a
node hands its groups over (planned moves) before it stops, within
--shutdown-timeout.

Check a file first with: raftha config check FILE`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "member configuration `FILE` (YAML)", Required: true, EnvVars: []string{"RAFTHA_CONFIG"}},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 60 * time.Second, Usage: "how long a graceful stop may take to hand groups over"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := server.LoadConfigFile(c.String("config"))
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(c.App.ErrWriter, "raftha: warning: %s\n", w)
			}
			srv, err := server.New(*cfg, server.Options{})
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return err
			}
			sig := make(chan os.Signal, 2)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case s := <-sig:
				srv.Logger().Info("signal received; handing groups over and stopping", "signal", s.String())
			case <-srv.Done():
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
