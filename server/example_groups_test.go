package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/server"
)

// ExampleServer_ApplyGroupSpecs defines a group in Go instead of YAML,
// with the same checks: a problem names its field.
func ExampleServer_ApplyGroupSpecs() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := server.New(exampleConfig(dir), server.Options{
		LogOutput: io.Discard,
		Handlers: map[string]server.OwnerFunc{
			"primary": func(ctx context.Context, tok resources.Token) error { <-ctx.Done(); return nil },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	web := groupfile.Group{
		Name:  "web",
		Nodes: []string{"node1"},
		Resources: []groupfile.Resource{
			{Name: "leader-work", Type: "go", Params: gohandler.Params{}}, // no handler named
		},
	}
	_, err = srv.ApplyGroupSpecs(ctx, []groupfile.Group{web}, "example")
	var problems yamlstrict.ErrorList
	if errors.As(err, &problems) {
		fmt.Println("refused:", strings.SplitN(problems[0].Error(), " (", 2)[0])
	}
	web.Resources[0].Params = gohandler.Params{Handler: "primary"}
	names, err := srv.ApplyGroupSpecs(ctx, []groupfile.Group{web}, "example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied:", names)
	waitState(srv, "web", "online")
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// refused: groups[0].resources[0]: handler: required: the name of an OwnerFunc the embedding service registers
	// applied: [web]
}

// ExampleOptions_registerer puts raftha's metrics on the service's own
// Prometheus registry, beside its own metrics.
func ExampleOptions_registerer() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	reg := prometheus.NewRegistry() // the service's registry
	cfg := exampleConfig(dir)
	cfg.API = ""
	srv, err := server.New(cfg, server.Options{LogOutput: io.Discard, Registerer: reg, DisableAPI: true})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "raftha_raft_state" {
			fmt.Println("the service's registry has", f.GetName())
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// the service's registry has raftha_raft_state
}

// ExampleOptions_apiListener serves raftha's HTTPS API on a listener the
// service opened itself (for example one handed over by systemd socket
// activation); the server wraps it in TLS and closes it on Shutdown.
func ExampleOptions_apiListener() {
	dir, err := os.MkdirTemp("", "raftha-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cfg := exampleConfig(dir)
	cfg.API = "" // the listener decides the address
	srv, err := server.New(cfg, server.Options{LogOutput: io.Discard, APIListener: ln})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("API on the service's listener:", srv.APIAddr() == ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	fmt.Println("closed on Shutdown:", err != nil)
	// Output:
	// API on the service's listener: true
	// closed on Shutdown: true
}
