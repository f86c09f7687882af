package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
)

// TestLibraryDefaults: New from Go has no fencing.mode default (the error
// names the field) and defaults self_fence_action to exit, never a sysrq
// action; the agent's file loader keeps aws-stop and reboot.
func TestLibraryDefaults(t *testing.T) {
	c := newTestCluster(t, "n1")
	cfg := c.members[0].cfg
	cfg.Fencing.Mode, cfg.Fencing.SelfFenceAction = "", ""
	_, err := New(cfg, Options{LogOutput: &testsupport.SyncBuffer{}})
	var errs yamlstrict.ErrorList
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "fencing.mode" {
		t.Fatalf("New without fencing.mode: %v, want one error naming fencing.mode", err)
	}
	cfg.Fencing.Mode = config.FencingLeaseOnly
	s, err := New(cfg, Options{LogOutput: &testsupport.SyncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config().Fencing.SelfFenceAction; got != "exit" {
		t.Fatalf("embedded self_fence_action %q, want exit", got)
	}
	cfg.Fencing.SelfFenceAction = "reboot" // asked for explicitly: kept
	if s, err = New(cfg, Options{LogOutput: &testsupport.SyncBuffer{}}); err != nil || s.Config().Fencing.SelfFenceAction != "reboot" {
		t.Fatalf("explicit reboot: %v %q", err, s.Config().Fencing.SelfFenceAction)
	}

	// The agent: LoadConfigFile applies its defaults before New.
	file := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "node_id: n1\nrole: node\ndata_dir: " + cfg.DataDir + "\nbind: " + cfg.Bind + "\napi: " + cfg.API +
		"\ntls: {ca: " + cfg.TLS.CA + ", cert: " + cfg.TLS.Cert + ", key: " + cfg.TLS.Key + "}\nmembers:\n  - {id: n1, address: " + cfg.Bind + ", role: node}\naws: {instance_id: i-0123456789abcdef0}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ac, err := config.LoadConfigFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// aws-stop needs the cloud provider: New says so, naming the setting.
	if _, err := New(*ac, Options{LogOutput: &testsupport.SyncBuffer{}}); !errors.Is(err, errNoCloud) || !strings.Contains(err.Error(), "fencing.mode aws-stop") {
		t.Fatalf("aws-stop without Options.Cloud: %v, want errNoCloud naming fencing.mode", err)
	}
	// ... unless the embedder brings its own fencer.
	if _, err := New(*ac, Options{LogOutput: &testsupport.SyncBuffer{}, Fencer: FencerFunc(func(context.Context, fsm.Member) error { return nil })}); err != nil {
		t.Fatalf("aws-stop with a Fencer and no Cloud: %v", err)
	}
	a, err := New(*ac, Options{LogOutput: &testsupport.SyncBuffer{}, Cloud: awsres.Provider{}})
	if err != nil {
		t.Fatal(err)
	}
	if f := a.Config().Fencing; f.Mode != config.FencingAWSStop || f.SelfFenceAction != "reboot" {
		t.Fatalf("agent defaults: mode %q self_fence_action %q, want aws-stop and reboot", f.Mode, f.SelfFenceAction)
	}
}

// TestInjectedSlogRegistererAndNoAPI: a member with the API off, logging
// to a *slog.Logger and registering its metrics on the embedder's
// registry; Health, Owner and IsOwner answer from local state.
func TestInjectedSlogRegistererAndNoAPI(t *testing.T) {
	c := newTestCluster(t, "n1")
	m := c.members[0]
	cfg := m.cfg
	cfg.API = "" // not needed with the API off
	var logs testsupport.SyncBuffer
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Options{
		Slog:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		DisableAPI: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h.RaftState != RaftStateNotStarted || h.ID != "n1" {
		t.Fatalf("Health before Start: %+v", h)
	}
	if _, _, ok := s.Owner("db"); ok || s.IsOwner("db") {
		t.Fatal("owner before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	m.srv = s
	if err := s.WaitReady(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s.APIAddr() != "" {
		t.Fatalf("API address %q with the API off", s.APIAddr())
	}
	if _, err := s.ApplyGroups(ctxT(t, 5*time.Second), []byte(markerGroup(t.TempDir(), "n1")), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "n1 owns db with a valid lease", func() bool { return s.IsOwner("db") })
	node, epoch, ok := s.Owner("db")
	if !ok || node != "n1" || epoch == 0 || !s.LeaseValid("db", epoch) {
		t.Fatalf("Owner: %q %d %v", node, epoch, ok)
	}
	if s.IsOwner("nosuch") {
		t.Fatal("IsOwner of an unknown group")
	}
	if h := s.Health(); h.RaftState != "leader" || h.Leader != "n1" || h.LeaseLeftMS <= 0 {
		t.Fatalf("Health: %+v", h)
	}
	if !strings.Contains(logs.String(), "member started") || !strings.Contains(logs.String(), "logger=raft") {
		t.Fatalf("slog did not get the server's and raft's logs:\n%s", logs.String())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "raftha_raft_state") || !strings.Contains(got, "raftha_group_epoch") || strings.Contains(got, "go_goroutines") {
		t.Fatalf("metrics on the embedder's registry: %s", got)
	}
	// A second server on the same registry is refused, with the way out.
	if _, err := New(cfg, Options{Registerer: reg, DisableAPI: true, LogOutput: &testsupport.SyncBuffer{}}); err == nil || !strings.Contains(err.Error(), "WrapRegistererWith") {
		t.Fatalf("second server on one registry: %v", err)
	}
	if err := s.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m.srv = nil
	if s.IsOwner("db") || s.Health().Leader != "" {
		t.Fatalf("after Shutdown: IsOwner %v Health %+v", s.IsOwner("db"), s.Health())
	}
}

// TestAPIOnEmbedderListener: the HTTPS API serves on the listener the
// embedder gives, with `api` empty.
func TestAPIOnEmbedderListener(t *testing.T) {
	c := newTestCluster(t, "n1")
	m := c.members[0]
	cfg := m.cfg
	cfg.API = ""
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{APIListener: ln, LogOutput: &testsupport.SyncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	m.srv = s
	if s.APIAddr() != ln.Addr().String() {
		t.Fatalf("APIAddr %q, listener %s", s.APIAddr(), ln.Addr())
	}
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// A TLS server answers a ClientHello; a plain "GET" gets no HTTP reply.
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(conn)
	conn.Close()
	if strings.HasPrefix(buf.String(), "HTTP/1.") && !strings.Contains(buf.String(), "HTTPS") {
		t.Fatalf("plain HTTP answered on the API listener: %q", buf.String())
	}
	if err := s.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	m.srv = nil
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("API listener still open after Shutdown")
	}
}
