package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/transport"
)

// DefaultAPI is the API address clients use when --api is not given.
const DefaultAPI = "https://127.0.0.1:7401"

// clientFlags are shared by every command that talks to the API (with
// --json: each prints its result).
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", Value: DefaultAPI, EnvVars: []string{"RAFTHA_API"}, Usage: "`URL` of any member's API (followers forward to the leader)"},
		&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"RAFTHA_CA_CERT"}, Usage: "cluster CA certificate `FILE` used to verify the API"},
		&cli.StringFlag{Name: "client-cert", EnvVars: []string{"RAFTHA_CLIENT_CERT"}, Usage: "client certificate `FILE` (signed by the cluster CA)"},
		&cli.StringFlag{Name: "client-key", EnvVars: []string{"RAFTHA_CLIENT_KEY"}, Usage: "client key `FILE`"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"RAFTHA_TOKEN"}, Usage: "bearer `TOKEN` (instead of a client certificate; see raftha token create)"},
		jsonFlag(),
	}
}

func newClient(c *cli.Context) (*api.Client, error) {
	base := strings.TrimRight(c.String("api"), "/")
	if err := api.CheckAddress(base); err != nil {
		return nil, fmt.Errorf("--api %w", err)
	}
	if c.String("ca-cert") == "" {
		return nil, errors.New("--ca-cert (or RAFTHA_CA_CERT) is required: the cluster CA certificate that signed the API's certificate")
	}
	token := c.String("token")
	if token == "" && (c.String("client-cert") == "" || c.String("client-key") == "") {
		return nil, errors.New("--client-cert and --client-key (or RAFTHA_CLIENT_CERT / RAFTHA_CLIENT_KEY) are required, or --token (RAFTHA_TOKEN): the API accepts only clients with a certificate from the cluster CA (make one with `raftha tls cert create`) or a token from access.tokens")
	}
	tc, err := transport.LoadClient(c.String("ca-cert"), c.String("client-cert"), c.String("client-key"))
	if err != nil {
		return nil, err
	}
	return api.NewClient(base, tc, token)
}

func timeoutCtx(c *cli.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, d)
}

// apiAction is the action of a command that calls the API: it checks that
// there are nargs positional arguments (any number when nargs < 0; usage
// is the error otherwise), builds the client from the flags and runs fn
// under timeout.
func apiAction(nargs int, usage error, timeout time.Duration, fn func(ctx context.Context, c *cli.Context, cl *api.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if nargs >= 0 && c.NArg() != nargs {
			return usage
		}
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		ctx, cancel := timeoutCtx(c, timeout)
		defer cancel()
		return fn(ctx, c, cl)
	}
}
