package cli

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/transport"
)

func tlsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tls",
		Usage: "create the cluster CA and member/client certificates",
		Description: `raftha has no plaintext mode: members talk mutual TLS, and API clients present
a certificate too. Create one CA per cluster, then one certificate per member
(with the IPs and names peers and clients use to reach it) and one per
operator or tool.

   raftha tls ca create --dir /etc/raftha/tls
   raftha tls cert create --dir /etc/raftha/tls --name node1 --ip 10.0.1.10
   raftha tls cert create --dir /etc/raftha/tls --name ops

Keep ca-key.pem off the members once the certificates exist.`,
		Subcommands: []*cli.Command{
			{
				Name:  "ca",
				Usage: "cluster CA",
				Subcommands: []*cli.Command{{
					Name:  "create",
					Usage: "write DIR/ca.pem and DIR/ca-key.pem (never overwrites)",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "dir", Required: true, Usage: "output `DIR`"},
						&cli.StringFlag{Name: "name", Usage: "CA common `NAME` (default \"raftha cluster CA\")"},
						&cli.DurationFlag{Name: "validity", Usage: "validity (default 10 years)"},
					},
					Action: func(c *cli.Context) error {
						dir := c.String("dir")
						if err := transport.CreateCA(dir, c.String("name"), c.Duration("validity")); err != nil {
							return err
						}
						fmt.Fprintf(stdout(c), "wrote %s and %s\n", filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
						return nil
					},
				}},
			},
			{
				Name:  "cert",
				Usage: "member and client certificates",
				Subcommands: []*cli.Command{{
					Name:  "create",
					Usage: "write DIR/NAME.pem and DIR/NAME-key.pem, signed by DIR/ca.pem (server and client use)",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "dir", Required: true, Usage: "`DIR` holding ca.pem and ca-key.pem; output goes there too"},
						&cli.StringFlag{Name: "name", Required: true, Usage: "certificate `NAME` (member id or operator name; it is the identity the API records)"},
						&cli.StringSliceFlag{Name: "ip", Usage: "IP address SAN (repeatable)"},
						&cli.StringSliceFlag{Name: "dns", Usage: "DNS name SAN (repeatable)"},
						&cli.DurationFlag{Name: "validity", Usage: "validity (default 825 days)"},
					},
					Action: func(c *cli.Context) error {
						req := transport.CertRequest{Name: c.String("name"), DNSNames: c.StringSlice("dns"), Validity: c.Duration("validity")}
						for _, s := range c.StringSlice("ip") {
							ip := net.ParseIP(s)
							if ip == nil {
								return usagef("--ip %q is not an IP address", s)
							}
							req.IPs = append(req.IPs, ip)
						}
						dir := c.String("dir")
						if err := transport.CreateCert(dir, req); err != nil {
							return err
						}
						fmt.Fprintf(stdout(c), "wrote %s and %s\n", filepath.Join(dir, req.Name+".pem"), filepath.Join(dir, req.Name+"-key.pem"))
						return nil
					},
				}, certShowCommand()},
			},
		},
	}
}
