package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/transport"
)

// TestWatchStopsOnCtrlC: --watch redraws until SIGINT (Ctrl-C), then
// returns without an error, even in the middle of its pause.
func TestWatchStopsOnCtrlC(t *testing.T) {
	clearClientEnv(t)
	dir := t.TempDir()
	if err := transport.CreateCA(dir, "", 0); err != nil {
		t.Fatal(err)
	}
	if err := transport.CreateCert(dir, transport.CertRequest{Name: "op", Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
		t.Fatal(err)
	}
	frames := 0
	var out bytes.Buffer
	app := &cli.App{
		Name:           "raftha",
		Writer:         &out,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:  "view",
			Flags: append(clientFlags(), watchFlags()...),
			Action: viewAction("view", 5*time.Second, func(ctx context.Context, c *cli.Context, cl *api.Client, w io.Writer) error {
				frames++
				fmt.Fprintf(w, "frame %d\n", frames)
				if frames == 2 {
					// Ctrl-C; --watch listens for it since before the first frame.
					if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
						t.Error(err)
					}
				}
				return nil
			}),
		}},
	}
	start := time.Now()
	err := app.Run([]string{"raftha", "view", "--watch", "--interval", "300ms", "--api", "https://127.0.0.1:1",
		"--ca-cert", filepath.Join(dir, "ca.pem"), "--client-cert", filepath.Join(dir, "op.pem"), "--client-key", filepath.Join(dir, "op-key.pem")})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("watch after Ctrl-C: %v", err)
	}
	if frames != 2 || took > 5*time.Second {
		t.Errorf("drew %d frames in %s, want 2 then stop on Ctrl-C:\n%s", frames, took, out.String())
	}
	if n := strings.Count(out.String(), "Every 300ms: raftha view"); n > 2 {
		t.Errorf("%d frames printed after Ctrl-C", n)
	}
}
