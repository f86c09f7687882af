package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/server"
	"github.com/raftha/raftha/transport"
)

// ExampleNew_handler embeds a one-member cluster (a member may be alone:
// it elects itself) whose group runs a Go callback while this node owns
// it. The callback gets the fencing token and a context that ends when
// the group stops here or the lease is in doubt.
func ExampleNew_handler() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	primary := make(chan struct{})
	srv, err := server.New(exampleConfig(dir), server.Options{
		LogOutput: io.Discard,
		Handlers: map[string]server.OwnerFunc{
			"primary": func(ctx context.Context, tok resources.Token) error {
				// Only here may this process act as the primary; attach
				// tok.Epoch to every write so storage can refuse a
				// deposed primary's late writes.
				fmt.Printf("primary for group %s on %s (epoch > 0: %v)\n", tok.Group, tok.Node, tok.Epoch > 0)
				close(primary)
				<-ctx.Done()
				fmt.Println("stepping down:", context.Cause(ctx))
				return nil
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	applyWhenReady(srv, `
groups:
  - name: web
    nodes: [node1]
    resources:
      - name: leader-work
        type: go
        handler: primary
        stop_timeout: 5s
`)
	select {
	case <-primary:
	case <-time.After(10 * time.Second):
		log.Fatal("the group did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown hands groups over (none to hand to here), stops them in
	// reverse order, which cancels the callback and waits for it.
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("shut down")
	// Output:
	// primary for group web on node1 (epoch > 0: true)
	// stepping down: resource stopped
	// shut down
}

// ExampleServer_WaitReady is the embedder's lifecycle: New (with the
// HTTPS API turned off and logs to log/slog), Start, WaitReady before the
// first cluster call, Health and IsOwner answered from local state, and
// Shutdown, after which calls return ErrStopped.
func ExampleServer_WaitReady() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := exampleConfig(dir)
	cfg.API = "" // no HTTPS API: the service talks to raftha in Go
	srv, err := server.New(cfg, server.Options{
		DisableAPI: true,
		Slog:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handlers: map[string]server.OwnerFunc{
			"primary": func(ctx context.Context, tok resources.Token) error { <-ctx.Done(); return nil },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = srv.Status(context.Background())
	fmt.Println("before Start:", errors.Is(err, server.ErrNotStarted), srv.Health().RaftState)
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil { // joined, and a leader answers
		log.Fatal(err)
	}
	// No retry loop: the first cluster call after WaitReady reaches the leader.
	if _, err := srv.ApplyGroups(ctx, []byte("groups:\n  - name: web\n    nodes: [node1]\n    resources:\n      - {name: w, type: go, handler: primary, stop_timeout: 5s}\n"), "example"); err != nil {
		log.Fatal(err)
	}
	for !srv.IsOwner("web") { // owner in the log and lease valid
		select {
		case <-ctx.Done():
			log.Fatal("never became the owner")
		case <-time.After(20 * time.Millisecond):
		}
	}
	owner, epoch, _ := srv.Owner("web")
	h := srv.Health()
	fmt.Printf("owner %s (epoch > 0: %v); health: %s, leader %s, API %q\n", owner, epoch > 0, h.RaftState, h.Leader, srv.APIAddr())
	if err := srv.Shutdown(ctx); err != nil { // nil: everything stopped
		log.Fatal(err)
	}
	_, err = srv.Status(context.Background())
	fmt.Println("after Shutdown:", errors.Is(err, server.ErrStopped), srv.IsOwner("web"))
	// Output:
	// before Start: true not-started
	// owner node1 (epoch > 0: true); health: leader, leader node1, API ""
	// after Shutdown: true false
}

// marker is a custom resource type: it "holds" a name for its group while
// started, tagging what it does with the fencing token.
type marker struct {
	name    string
	running *resources.Token
}

// markerParams are the marker's YAML keys, decoded strictly (unknown keys
// are errors with their line).
type markerParams struct {
	Name string `yaml:"name_to_hold" json:"name_to_hold"`
}

// Validate implements resources.Validator.
func (p *markerParams) Validate() error {
	if p.Name == "" {
		return errors.New("name_to_hold: required")
	}
	return nil
}

// Start is called on the owner, each time after the leader confirmed the
// ownership at tok.Epoch.
func (m *marker) Start(_ context.Context, tok resources.Token) error {
	fmt.Printf("start: %s holds %q for %s (resource %s, epoch > 0: %v)\n", tok.Node, m.name, tok.Group, tok.Resource, tok.Epoch > 0)
	m.running = &tok
	return nil
}

// Stop must be idempotent: raftha also stops resources it never started
// here (cleanup when a member starts).
func (m *marker) Stop(_ context.Context, tok resources.Token) error {
	if m.running != nil {
		fmt.Printf("stop: %s releases %q\n", tok.Node, m.name)
		m.running = nil
	}
	return nil
}

// Check is the monitor's periodic health check.
func (m *marker) Check(context.Context, resources.Token) error {
	if m.running == nil {
		return errors.New("not held")
	}
	return nil
}

// ExampleNew_customResourceType registers a resource type written in Go
// and uses it in a group file like a built-in one.
func ExampleNew_customResourceType() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	reg := server.DefaultRegistry() // the built-in types, plus ours:
	err = reg.Register(resources.Type{
		Name:      "marker",
		NewParams: func() any { return &markerParams{} },
		Build: func(params any, env resources.Env) (resources.Resource, error) {
			return &marker{name: params.(*markerParams).Name}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(exampleConfig(dir), server.Options{Registry: reg, LogOutput: io.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	// Group files are checked against the registry, strictly.
	if _, _, errs := groupfile.Parse([]byte("groups:\n  - name: web\n    nodes: [node1]\n    resources:\n      - {name: m, type: marker, name_to_holdd: x}\n"), srv.Registry()); len(errs) > 0 {
		fmt.Println("refused:", errs[0].Msg)
	}
	applyWhenReady(srv, `
groups:
  - name: web
    nodes: [node1]
    resources:
      - name: vip
        type: marker
        name_to_hold: web.example.internal
`)
	waitState(srv, "web", "online")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// refused: unknown key "name_to_holdd" in groups[0].resources[0] (expected one of: name_to_hold)
	// start: node1 holds "web.example.internal" for web (resource vip, epoch > 0: true)
	// stop: node1 releases "web.example.internal"
}

// ExampleServer_Handle registers a handler on a server built without one,
// before Start.
func ExampleServer_Handle() {
	cfg, err := config.LoadConfigFile("/etc/raftha/raftha.yaml")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(*cfg, server.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv.Handle("kv-writer", func(ctx context.Context, tok resources.Token) error {
		// Accept writes, tagged with tok.Epoch, until ctx is done.
		<-ctx.Done()
		return nil
	})
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
}

// exampleConfig is a one-member cluster on loopback in dir: its own CA and
// certificate, lease-only fencing (there is nothing to fence), and fast
// timings.
func exampleConfig(dir string) config.Config {
	tlsDir := filepath.Join(dir, "tls")
	if err := transport.CreateCA(tlsDir, "", 0); err != nil {
		log.Fatal(err)
	}
	if err := transport.CreateCert(tlsDir, transport.CertRequest{Name: "node1", Kind: transport.KindMember, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}); err != nil {
		log.Fatal(err)
	}
	bind := freeAddr()
	return config.Config{
		NodeID:  "node1",
		Role:    config.RoleNode,
		DataDir: filepath.Join(dir, "data"),
		Bind:    bind,
		API:     freeAddr(),
		TLS: config.TLSConfig{
			CA:   filepath.Join(tlsDir, "ca.pem"),
			Cert: filepath.Join(tlsDir, "node1.pem"),
			Key:  filepath.Join(tlsDir, "node1-key.pem"),
		},
		Members: []config.MemberConfig{{ID: "node1", Address: bind, Role: config.RoleNode}},
		Timing: config.TimingConfig{
			Heartbeat:       config.Duration(100 * time.Millisecond),
			Lease:           config.Duration(300 * time.Millisecond),
			FailoverTimeout: config.Duration(400 * time.Millisecond),
		},
		// No watchdog device on a laptop: say so explicitly.
		Fencing: config.FencingConfig{Mode: config.FencingLeaseOnly, SelfFenceAction: config.SelfFenceNone, Watchdog: config.WatchdogNone},
	}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// applyWhenReady applies a group file once the member has joined and a
// leader answers (right after Start, there is no leader yet): no retry
// loop is needed after WaitReady.
func applyWhenReady(srv *server.Server, groups string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := srv.ApplyGroups(ctx, []byte(groups), "example"); err != nil {
		log.Fatal(err)
	}
}

// waitState waits until Status shows group in state.
func waitState(srv *server.Server, group, state string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := srv.Status(context.Background())
		if err == nil {
			for _, g := range st.Groups {
				if g.Name == group && string(g.State) == state {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.Fatalf("group %s not %s", group, state)
}
