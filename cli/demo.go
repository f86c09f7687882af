package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/freeport"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/builtin"
	"github.com/raftha/raftha/server"
	"github.com/raftha/raftha/transport"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a local 3-member cluster (2 nodes + witness) on loopback",
		Description: `Starts two nodes (n1, n2) and a witness (w1) in this process, on 127.0.0.1,
with a freshly generated CA and certificates in a temporary directory. It
applies a group "web" whose exec resource serves HTTP on a loopback port, and
prints the status and what to try. Ctrl-C stops everything and removes the
directory.

There is no EC2 API here, so the demo runs fencing.mode lease-only: a
takeover waits for the lost owner's lease to run out (plus margin).

   raftha demo               explore with the printed commands; Ctrl-C to stop
   raftha demo --failover    also kill the owner and time the failover
   raftha demo --once        set up, report, clean up and exit (for scripts)`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "failover", Usage: "kill the owner (agent and its app) and print how long until the group is online again"},
			&cli.BoolFlag{Name: "once", Usage: "exit after the report (and the failover) instead of waiting for Ctrl-C"},
			&cli.StringFlag{Name: "dir", Usage: "keep the demo's files (configs, certificates, logs, data) in `DIR` instead of a temporary directory"},
		},
		Action: runDemo,
	}
}

type demoMember struct {
	id, role string
	raft     int
	api      int
	srv      *server.Server
	cfgFile  string
}

func runDemo(c *cli.Context) error {
	out := stdout(c)
	dir := c.String("dir")
	keep := dir != ""
	if dir == "" {
		d, err := os.MkdirTemp("", "raftha-demo-")
		if err != nil {
			return err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var members []*demoMember
	var logs []*os.File
	defer func() {
		// Stop the members together: each hands its groups over for at
		// most a few seconds, then stops them itself.
		var wg sync.WaitGroup
		for _, m := range members {
			if m.srv != nil {
				wg.Add(1)
				go func(srv *server.Server) {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					defer cancel()
					_ = srv.Shutdown(ctx)
				}(m.srv)
			}
		}
		wg.Wait()
		for _, f := range logs {
			f.Close()
		}
		if !keep {
			os.RemoveAll(dir)
			fmt.Fprintf(out, "stopped; removed %s\n", dir)
		} else {
			fmt.Fprintf(out, "stopped; files kept in %s\n", dir)
		}
	}()

	tlsDir := filepath.Join(dir, "tls")
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.pem")); err != nil {
		if err := transport.CreateCA(tlsDir, "raftha demo CA", 0); err != nil {
			return err
		}
	}
	lo := []net.IP{net.ParseIP("127.0.0.1")}
	for _, name := range []string{"n1", "n2", "w1", "operator"} {
		kind := transport.KindMember
		if name == "operator" {
			kind = transport.KindOperator
		}
		if demoCertKind(tlsDir, name) == kind {
			continue
		}
		// Missing, or issued before certificate kinds: issue it again.
		_ = os.Remove(filepath.Join(tlsDir, name+".pem"))
		_ = os.Remove(filepath.Join(tlsDir, name+"-key.pem"))
		if err := transport.CreateCert(tlsDir, transport.CertRequest{Name: name, Kind: kind, IPs: lo, DNSNames: []string{"localhost"}}); err != nil {
			return err
		}
	}
	ports, err := freeport.Loopback(7)
	if err != nil {
		return err
	}
	members = []*demoMember{
		{id: "n1", role: string(fsm.RoleNode), raft: ports[0], api: ports[1]},
		{id: "n2", role: string(fsm.RoleNode), raft: ports[2], api: ports[3]},
		{id: "w1", role: string(fsm.RoleWitness), raft: ports[4], api: ports[5]},
	}
	appPort := ports[6]
	var memberYAML strings.Builder
	for _, m := range members {
		fmt.Fprintf(&memberYAML, "  - {id: %s, address: 127.0.0.1:%d, role: %s}\n", m.id, m.raft, m.role)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return err
	}
	// An operate token for the dashboard, so that the URL printed below
	// signs in (members keep only its SHA-256).
	token, tokenSum, err := api.NewToken()
	if err != nil {
		return err
	}
	for _, m := range members {
		m.cfgFile = filepath.Join(dir, m.id+".yaml")
		cfg := fmt.Sprintf(`# raftha demo member %[1]s (generated)
node_id: %[1]s
role: %[2]s
data_dir: data/%[1]s
bind: 127.0.0.1:%[3]d
api: 127.0.0.1:%[4]d
tls:
  ca: tls/ca.pem
  cert: tls/%[1]s.pem
  key: tls/%[1]s-key.pem
members:
%[5]s
timing:
  heartbeat: 300ms
  lease: 1500ms
  failover_timeout: 2s
fencing:
  # No EC2 API on loopback: rely on the lease. A real deploy uses aws-stop.
  mode: lease-only
  stop_deadline: 2s
  self_fence_action: none
  # No watchdog device here; lease-only nodes must say so explicitly.
  watchdog: none
access:
  # The demo dashboard's token (raftha token create makes one).
  tokens:
    - {name: demo, role: operate, sha256: %[6]s}
`, m.id, m.role, m.raft, m.api, memberYAML.String(), tokenSum)
		if err := os.WriteFile(m.cfgFile, []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	groups := fmt.Sprintf(`# raftha demo group (generated)
groups:
  - name: web
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        # a tiny HTTP server that says which node and epoch serve it
        run: %q
        check: %q
        timeout: 10s
`, fmt.Sprintf("exec '%s' demo-app --listen 127.0.0.1:%d", self, appPort), fmt.Sprintf("'%s' demo-app --probe http://127.0.0.1:%d/", self, appPort))
	groupFile := filepath.Join(dir, "groups.yaml")
	if err := os.WriteFile(groupFile, []byte(groups), 0o600); err != nil {
		return err
	}

	fmt.Fprintf(out, "raftha demo: starting n1, n2 (nodes) and w1 (witness) on 127.0.0.1 in %s\n", dir)
	for _, m := range members {
		cfg, err := config.LoadConfigFile(m.cfgFile)
		if err != nil {
			return err
		}
		logf, err := os.OpenFile(filepath.Join(dir, "logs", m.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		logs = append(logs, logf)
		srv, err := server.New(*cfg, server.Options{LogOutput: logf, Cloud: awsres.Provider{}, Registry: builtin.Registry()})
		if err != nil {
			return err
		}
		if err := srv.Start(); err != nil {
			return err
		}
		m.srv = srv
	}
	ctx, cancel := signalContext(c.Context)
	defer cancel()

	leader, err := demoWait(ctx, 30*time.Second, func() (*demoMember, bool) {
		for _, m := range members {
			if m.srv != nil && m.srv.IsLeader() {
				return m, true
			}
		}
		return nil, false
	})
	if err != nil {
		return fmt.Errorf("no leader elected: %w (see %s/logs)", err, dir)
	}
	data, _ := os.ReadFile(groupFile)
	// the leader needs to hear from the nodes before it places anything
	var applyErr error
	if _, err := demoWait(ctx, 30*time.Second, func() (struct{}, bool) {
		_, applyErr = leader.srv.ApplyGroups(ctx, data, "demo")
		return struct{}{}, applyErr == nil
	}); err != nil {
		return fmt.Errorf("applying %s: %w: %v", groupFile, err, applyErr)
	}
	owner, err := demoOnline(ctx, members, "web", "", 0)
	if err != nil {
		return err
	}
	body, _ := demoGet(appPort)
	fmt.Fprintf(out, "group web is online on %s; http://127.0.0.1:%d/ says: %s\n\n", owner.Status.Owner, appPort, body)
	// Show a settled cluster: wait (briefly) until the leader has heard
	// from every member.
	st, _ := demoWait(ctx, 10*time.Second, func() (*api.Status, bool) {
		st, err := leader.srv.Status(ctx)
		if err != nil || st.Stale {
			return st, false
		}
		for _, m := range st.Members {
			if !m.Healthy {
				return st, false
			}
		}
		return st, true
	})
	if st != nil {
		printStatus(out, st, 6)
	}
	// The node that does not own web: it survives --failover (which kills
	// the owner), and a node forwards changes (a witness does not).
	api := members[0].api
	for _, m := range members {
		if m.id == otherNode(owner.Status.Owner) {
			api = m.api
		}
	}
	fmt.Fprintf(out, `
Try it from another terminal:
  export RAFTHA_API=https://127.0.0.1:%d
  export RAFTHA_CA_CERT=%s RAFTHA_CLIENT_CERT=%s RAFTHA_CLIENT_KEY=%s
  raftha status
  raftha ownership transfer web --to %s
  curl http://127.0.0.1:%d/
Dashboard, signed in with the demo's operate token (the browser will warn
about the demo's own CA, %s):
  https://127.0.0.1:%d/ui/#token=%s
Files: configs %s/*.yaml, groups %s, logs %s/logs/
`, api, filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "operator.pem"), filepath.Join(tlsDir, "operator-key.pem"),
		otherNode(owner.Status.Owner), appPort, filepath.Join(tlsDir, "ca.pem"), api, token, dir, groupFile, dir)

	if c.Bool("failover") {
		if err := demoFailover(ctx, out, members, owner, appPort); err != nil {
			return err
		}
	}
	if c.Bool("once") {
		return nil
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop the demo.")
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping the demo...")
	return nil
}

func demoFailover(ctx context.Context, out io.Writer, members []*demoMember, owner fsm.Group, appPort int) error {
	var victim *demoMember
	for _, m := range members {
		if m.id == owner.Status.Owner {
			victim = m
		}
	}
	fmt.Fprintf(out, "\n--failover: killing %s (the owner: its agent and its app, as a crashed host would lose both)\n", victim.id)
	start := time.Now()
	victim.srv.Kill()
	victim.srv = nil
	g, err := demoOnline(ctx, members, "web", victim.id, owner.Status.Epoch)
	if err != nil {
		return err
	}
	online := time.Since(start)
	want := "served by " + g.Status.Owner
	if _, err := demoWait(ctx, 30*time.Second, func() (struct{}, bool) {
		b, err := demoGet(appPort)
		return struct{}{}, err == nil && strings.Contains(b, want)
	}); err != nil {
		return fmt.Errorf("the app did not answer on %s: %w", g.Status.Owner, err)
	}
	answering := time.Since(start)
	fmt.Fprintf(out, "group web online again on %s at epoch %d after %s (app answering after %s)\n", g.Status.Owner, g.Status.Epoch, online.Round(time.Millisecond), answering.Round(time.Millisecond))
	fmt.Fprintf(out, "lease-only fencing waited for %s's lease to run out before the takeover; with fencing.mode aws-stop the winner force-stops the old instance instead.\n", victim.id)
	return nil
}

// demoOnline waits until group is online on a node other than not, at an
// epoch above after, as any running member's leader view has it.
func demoOnline(ctx context.Context, members []*demoMember, group, not string, after uint64) (fsm.Group, error) {
	return demoWait(ctx, 60*time.Second, func() (fsm.Group, bool) {
		for _, m := range members {
			if m.srv == nil || !m.srv.IsLeader() {
				continue
			}
			g, ok := m.srv.State().Groups[group]
			if ok && g.Status.State == fsm.StateOnline && g.Status.Owner != not && g.Status.Epoch > after {
				return *g, true
			}
		}
		return fsm.Group{}, false
	})
}

// demoWait polls fn every 20ms until it reports done, ctx ends or d passes.
func demoWait[T any](ctx context.Context, d time.Duration, fn func() (T, bool)) (T, error) {
	deadline := time.Now().Add(d)
	for {
		v, ok := fn()
		if ok {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("timed out after %s", d)
		}
		select {
		case <-ctx.Done():
			return v, errors.New("interrupted")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func demoGet(port int) (string, error) {
	cl := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return strings.TrimSpace(string(b)), err
}

func otherNode(n string) string {
	if n == "n1" {
		return "n2"
	}
	return "n1"
}

// signalContext ends on SIGINT, SIGTERM or SIGHUP (a closed terminal), so
// the demo always cleans up; SIGPIPE is ignored (writes fail instead).
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

func demoAppCommand() *cli.Command {
	return &cli.Command{
		Name:   "demo-app",
		Usage:  "the demo's HTTP app (used by `raftha demo`)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`HOST:PORT` to serve on"},
			&cli.StringFlag{Name: "probe", Usage: "check `URL` answers 200 and exit"},
		},
		Action: func(c *cli.Context) error {
			if u := c.String("probe"); u != "" {
				cl := &http.Client{Timeout: 2 * time.Second}
				resp, err := cl.Get(u)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s answered %s", u, resp.Status)
				}
				return nil
			}
			node, epoch := os.Getenv("RAFTHA_NODE"), os.Getenv("RAFTHA_EPOCH")
			srv := &http.Server{Addr: c.String("listen"), ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, "hello from the raftha demo app, served by %s at epoch %s\n", node, epoch)
			})}
			ctx, cancel := signalContext(c.Context)
			defer cancel()
			go func() {
				<-ctx.Done()
				_ = srv.Close()
			}()
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}

// demoCertKind is the kind of the demo's certificate name in tlsDir; ""
// when it is missing or unreadable.
func demoCertKind(tlsDir, name string) transport.CertKind {
	b, err := transport.Load(transport.Files{CA: filepath.Join(tlsDir, "ca.pem"), Cert: filepath.Join(tlsDir, name+".pem"), Key: filepath.Join(tlsDir, name+"-key.pem")})
	if err != nil {
		return ""
	}
	id, err := transport.CertIdentityOf(b.Certificate.Leaf)
	if err != nil {
		return ""
	}
	return id.Kind
}
