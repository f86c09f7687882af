package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
)

// defaultWatchInterval is the pause between two redraws of --watch.
const defaultWatchInterval = 2 * time.Second

// watchFlags are the flags of a view that can redraw itself.
func watchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "redraw every --interval until Ctrl-C"},
		&cli.DurationFlag{Name: "interval", Value: defaultWatchInterval, Usage: "pause between two redraws of --watch"},
		&cli.IntFlag{Name: "count", Usage: "with --watch, stop after `N` redraws (0: until Ctrl-C)"},
	}
}

// viewAction is the action of the view command name (status, group
// list): draw
// once under timeout or, with --watch, redraw every --interval until
// Ctrl-C (or --count redraws), each call bounded by timeout. A failed
// call is shown in its frame and the next one is tried; the exit status
// is that of the last frame (0 after Ctrl-C).
func viewAction(name string, timeout time.Duration, draw func(ctx context.Context, c *cli.Context, cl *api.Client, w io.Writer) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 0 {
			return usagef("%s takes no arguments", name)
		}
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		out := stdout(c)
		if !c.Bool("watch") {
			ctx, cancel := timeoutCtx(c, timeout)
			defer cancel()
			return draw(ctx, c, cl, out)
		}
		interval := c.Duration("interval")
		if interval <= 0 {
			return usagef("--interval must be positive, got %s", interval)
		}
		if c.Bool("json") {
			return usagef("--watch draws tables; it cannot be combined with --json")
		}
		ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
		defer stop()
		clear := isTerminal(out)
		for n := 1; ; n++ {
			var frame bytes.Buffer
			cctx, cancel := context.WithTimeout(ctx, timeout)
			err = draw(cctx, c, cl, &frame)
			cancel()
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			if clear {
				fmt.Fprint(out, "\x1b[H\x1b[2J")
			}
			fmt.Fprintf(out, "Every %s: raftha %s   %s\n\n", interval, name, time.Now().Format("2006-01-02 15:04:05"))
			_, _ = out.Write(frame.Bytes())
			if err != nil {
				fmt.Fprintf(out, "\nraftha: %v\n", err)
			}
			if !clear {
				fmt.Fprintln(out)
			}
			if max := c.Int("count"); max > 0 && n >= max {
				return err
			}
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// isTerminal reports whether w is a character device (a terminal), where
// --watch clears the screen between frames.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
