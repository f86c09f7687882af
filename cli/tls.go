package cli

import (
	"fmt"
	"io"
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
a certificate too. Create one CA per cluster, then one member certificate per
member (with the IPs and names peers and clients use to reach it) and one
operator certificate per operator or tool.

   raftha tls ca create --dir /etc/raftha/tls
   raftha tls cert create --dir /etc/raftha/tls --member node1 --ip 10.0.1.10
   raftha tls cert create --dir /etc/raftha/tls --operator ops

A certificate says what it is for (URI SAN raftha://member/ID or
raftha://operator/NAME): only member certificates are admitted to the member
port, where each is that member and may speak only for itself; an operator
certificate is for the API only, with the role access.operators grants it.

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
						jsonFlag(),
					},
					Action: func(c *cli.Context) error {
						dir := c.String("dir")
						if err := transport.CreateCA(dir, c.String("name"), c.Duration("validity")); err != nil {
							return err
						}
						res := filesResult{Files: []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")}}
						return emit(c, res, func(w io.Writer) { fmt.Fprintf(w, "wrote %s and %s\n", res.Files[0], res.Files[1]) })
					},
				}},
			},
			{
				Name:  "cert",
				Usage: "member and client certificates",
				Subcommands: []*cli.Command{{
					Name:  "create",
					Usage: "write DIR/NAME.pem and DIR/NAME-key.pem, signed by DIR/ca.pem: a member's (--member) or an operator's (--operator)",
					Description: `Give exactly one of --member and --operator: what the certificate may do is
written into it (URI SAN raftha://member/ID or raftha://operator/NAME).

   --member ID      for the member whose node_id is ID: its tls.cert. The
                    member port admits it as member ID, which may heartbeat,
                    report and fence only for itself. On the API it has only
                    the role access.operators grants its name (a witness
                    needs none).
   --operator NAME  for a person or a tool (raftha CLI, Prometheus): the API
                    only, with role operate when NAME is in access.operators
                    (or that list is empty), else read. Never admitted to the
                    member port, even if NAME is a member's id.

   raftha tls cert create --dir /etc/raftha/tls --member node1 --ip 10.0.1.10
   raftha tls cert create --dir /etc/raftha/tls --operator alice`,
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "dir", Required: true, Usage: "`DIR` holding ca.pem and ca-key.pem; output goes there too"},
						&cli.StringFlag{Name: "member", Usage: "issue a member certificate for member `ID` (its node_id)"},
						&cli.StringFlag{Name: "operator", Usage: "issue an operator certificate for `NAME` (the identity the API records; list it in access.operators to operate)"},
						&cli.StringFlag{Name: "name", Hidden: true},
						&cli.StringSliceFlag{Name: "ip", Usage: "IP address SAN (repeatable)"},
						&cli.StringSliceFlag{Name: "dns", Usage: "DNS name SAN (repeatable)"},
						&cli.DurationFlag{Name: "validity", Usage: "validity (default 825 days)"},
						jsonFlag(),
					},
					Action: func(c *cli.Context) error {
						req := transport.CertRequest{DNSNames: c.StringSlice("dns"), Validity: c.Duration("validity")}
						switch m, o := c.String("member"), c.String("operator"); {
						case c.IsSet("name"):
							return usagef("--name is gone: say what the certificate is for, --member %[1]s (a member's) or --operator %[1]s (an operator's or a tool's)", c.String("name"))
						case (m == "") == (o == ""):
							return usagef("give exactly one of --member ID (a member's certificate) and --operator NAME (an operator's or a tool's)")
						case m != "":
							req.Name, req.Kind = m, transport.KindMember
						default:
							req.Name, req.Kind = o, transport.KindOperator
						}
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
						res := filesResult{Files: []string{filepath.Join(dir, req.Name+".pem"), filepath.Join(dir, req.Name+"-key.pem")}}
						return emit(c, res, func(w io.Writer) { fmt.Fprintf(w, "wrote %s and %s\n", res.Files[0], res.Files[1]) })
					},
				}, certShowCommand()},
			},
		},
	}
}
