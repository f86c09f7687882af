package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// apiClient returns an api.Client for m's API: with the client
// certificate name from the cluster CA (created here), or with token when
// name is "".
func (c *testCluster) apiClient(m *testMember, name, token string) *api.Client {
	c.t.Helper()
	ca := filepath.Join(c.tlsDir, "ca.pem")
	tc, err := transport.LoadClient(ca, "", "")
	if name != "" {
		if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: name, Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			c.t.Fatal(err)
		}
		tc, err = transport.LoadClient(ca, filepath.Join(c.tlsDir, name+".pem"), filepath.Join(c.tlsDir, name+"-key.pem"))
	}
	if err != nil {
		c.t.Fatal(err)
	}
	cl, err := api.NewClient("https://"+m.srv.APIAddr(), tc, token)
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// wantAPIError fails t unless err is an *api.Error with code and HTTP
// status that errors.Is matches to class.
func wantAPIError(t *testing.T, what string, err error, class error, code api.Code, status int) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || !errors.Is(err, class) || ae.Code != code || ae.Status != status {
		t.Fatalf("%s: %#v (%v); want an *api.Error with code %s, HTTP %d, matching %v", what, ae, err, code, status, class)
	}
	for _, other := range []error{api.ErrInvalid, api.ErrNotFound, api.ErrRefused, api.ErrNoLeader, api.ErrTimeout, api.ErrInProgress, api.ErrUnauthorized, api.ErrForbidden} {
		if other != class && errors.Is(err, other) {
			t.Fatalf("%s: %v also matches %v", what, err, other)
		}
	}
}

// leaderAnswer calls call until its answer did not come from a lost or
// missing leader (leadership may move on a loaded machine), for at most
// 30s, and returns that answer.
func leaderAnswer(t *testing.T, call func() error) error {
	t.Helper()
	var err error
	waitFor(t, 30*time.Second, "an answer from a leader", func() bool {
		err = call()
		return !errors.Is(err, api.ErrNoLeader)
	})
	return err
}

// TestClientErrorMapping: every call the CLI makes, through api.Client
// against a follower's API (which forwards to the leader), and each
// refusal arriving as a typed error: errors.Is matches its class and the
// *api.Error carries its code, never recognised by the message.
func TestClientErrorMapping(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{
			Operators: []string{"alice"},
			Tokens:    []config.TokenConfig{{Name: "dash", Role: api.RoleRead, SHA256: api.TokenSHA256("read-token")}},
		}
	})
	c.startAll()
	c.waitHealthy()
	var via *testMember
	for _, m := range c.members {
		if !m.srv.IsLeader() && m.cfg.Role == config.RoleNode {
			via = m
		}
	}
	if via == nil {
		t.Skip("leadership moved while choosing a follower node")
	}
	ops := c.apiClient(via, "alice", "")
	ctx := ctxT(t, 60*time.Second)

	bad := []byte("groups:\n  - name: db\n    nodes: [n1, n9]\n    bogus: 1\n")
	_, err := ops.ApplyGroups(ctx, bad)
	wantAPIError(t, "invalid group file", err, api.ErrInvalid, api.CodeInvalid, http.StatusBadRequest)
	var ae *api.Error
	if errors.As(err, &ae); len(ae.Errors) == 0 || ae.Errors[0].Line == 0 {
		t.Fatalf("invalid group file: field errors %+v, want problems with their lines", ae.Errors)
	}
	var res *api.ApplyResult
	err = leaderAnswer(t, func() (err error) {
		res, err = ops.ApplyGroups(ctx, []byte(markerGroup(t.TempDir(), "n1", "n2")))
		return err
	})
	if err != nil || len(res.Applied) != 1 || res.Applied[0] != "db" {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	c.waitOnline("db", "n1")

	st, err := ops.Status(ctx)
	if err != nil || st.Leader == "" || len(st.Groups) != 1 || len(st.Members) != 3 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if who, err := ops.WhoAmI(ctx); err != nil || who.Identity != "alice" || who.Role != api.RoleOperate {
		t.Fatalf("whoami: %+v, %v", who, err)
	}
	if h, err := ops.Health(ctx); err != nil || h.ID != via.cfg.NodeID || h.Version != api.Version {
		t.Fatalf("health: %+v, %v", h, err)
	}

	err = leaderAnswer(t, func() error {
		_, err := ops.Transfer(ctx, "nope", api.TransferRequest{To: "n2", Timeout: "30s"})
		return err
	})
	wantAPIError(t, "transfer of an unknown group", err, api.ErrNotFound, api.CodeNoGroup, http.StatusNotFound)
	err = leaderAnswer(t, func() error {
		_, err := ops.Transfer(ctx, "db", api.TransferRequest{To: "n9", Timeout: "30s"})
		return err
	})
	wantAPIError(t, "transfer to an unknown node", err, api.ErrRefused, api.CodeRefused, http.StatusConflict)
	err = leaderAnswer(t, func() error {
		_, err := ops.Transfer(ctx, "db", api.TransferRequest{To: "w1", Timeout: "30s"})
		return err
	})
	wantAPIError(t, "transfer to a witness", err, api.ErrRefused, api.CodeRefused, http.StatusConflict)
	err = leaderAnswer(t, func() error {
		_, err := ops.Transfer(ctx, "db", api.TransferRequest{To: "n2", Timeout: "-1s"})
		return err
	})
	wantAPIError(t, "transfer with a bad timeout", err, api.ErrInvalid, api.CodeInvalid, http.StatusBadRequest)
	err = leaderAnswer(t, func() error { _, err := ops.Why(ctx, "nope"); return err })
	wantAPIError(t, "why of an unknown group", err, api.ErrNotFound, api.CodeNoGroup, http.StatusNotFound)
	err = leaderAnswer(t, func() error { return ops.RemoveMember(ctx, "n9") })
	wantAPIError(t, "removal of an unknown member", err, api.ErrNotFound, api.CodeNoMember, http.StatusNotFound)
	err = leaderAnswer(t, func() error {
		return ops.AddMember(ctx, api.MemberRequest{ID: "n3", Address: "127.0.0.1:1", Role: "boss"})
	})
	wantAPIError(t, "member with a bad role", err, api.ErrRefused, api.CodeRefused, http.StatusConflict)
	err = leaderAnswer(t, func() error { _, err := ops.FenceOverride(ctx, "db", ""); return err })
	wantAPIError(t, "fence override without a reason", err, api.ErrInvalid, api.CodeInvalid, http.StatusBadRequest)
	zero := api.Duration(0)
	err = leaderAnswer(t, func() error { _, err := ops.SetSettings(ctx, api.SettingsRequest{Heartbeat: &zero}); return err })
	wantAPIError(t, "heartbeat 0", err, api.ErrInvalid, api.CodeInvalid, http.StatusBadRequest)
	err = leaderAnswer(t, func() error { return ops.DeleteGroup(ctx, "db") })
	wantAPIError(t, "delete of an online group", err, api.ErrRefused, api.CodeBusy, http.StatusConflict)

	reader := c.apiClient(via, "", "read-token")
	if _, err := reader.Members(ctx); err != nil {
		t.Fatalf("members with a read token: %v", err)
	}
	err = leaderAnswer(t, func() error { return reader.Suspend(ctx, "db") })
	wantAPIError(t, "suspend with a read token", err, api.ErrForbidden, api.CodeForbidden, http.StatusForbidden)
	_, err = c.apiClient(via, "", "wrong-token").Status(ctx)
	wantAPIError(t, "status with a wrong token", err, api.ErrUnauthorized, api.CodeUnauthorized, http.StatusUnauthorized)

	var g *api.GroupStatus
	err = leaderAnswer(t, func() (err error) {
		g, err = ops.Transfer(ctx, "db", api.TransferRequest{To: "n2", Timeout: "30s"})
		return err
	})
	if err != nil || g.Owner != "n2" || g.State != "online" {
		t.Fatalf("transfer to n2: %+v, %v", g, err)
	}
	// why answers from the asked member's own log, which may trail the
	// leader's by the replication delay right after the transfer returned.
	var changes []api.OwnershipChange
	waitFor(t, 5*time.Second, "the planned move in why", func() bool {
		changes, err = ops.Why(ctx, "db")
		return err != nil || len(changes) >= 2
	})
	if err != nil || len(changes) != 2 || changes[1].Cause != "planned" || changes[1].By != "alice" {
		t.Fatalf("why: %+v, %v", changes, err)
	}
	if err := leaderAnswer(t, func() error { return ops.Suspend(ctx, "db") }); err != nil {
		t.Fatal(err)
	}
	if err := leaderAnswer(t, func() error { return ops.Resume(ctx, "db") }); err != nil {
		t.Fatal(err)
	}
	err = leaderAnswer(t, func() (err error) {
		g, err = ops.Stop(ctx, "db")
		return err
	})
	if err != nil || g.State != "offline" || !g.Suspended {
		t.Fatalf("stop: %+v, %v", g, err)
	}
	if err := leaderAnswer(t, func() error { return ops.DeleteGroup(ctx, "db") }); err != nil {
		t.Fatalf("delete of a stopped group: %v", err)
	}
	if v, err := ops.Settings(ctx); err != nil || !v.Recorded || v.FencingMode != string(config.FencingLeaseOnly) {
		t.Fatalf("settings: %+v, %v", v, err)
	}

	// Without a quorum, a call that needs the leader is refused as
	// no-leader (or, while the old leader still waits for its quorum,
	// times out); it never succeeds.
	for _, m := range c.members {
		if m != via {
			c.kill(m.cfg.NodeID)
		}
	}
	waitFor(t, 20*time.Second, "a no-leader refusal", func() bool {
		err := ops.RemoveMember(ctxT(t, 10*time.Second), "n9")
		if err == nil {
			t.Fatal("a removal succeeded without a quorum")
		}
		return errors.Is(err, api.ErrNoLeader)
	})
}

// TestClientTransferInProgress: a move that was committed but did not
// finish within its timeout comes back from api.Client as ErrInProgress
// with the group's status, through a follower.
func TestClientTransferInProgress(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(slowStartGroup(t.TempDir(), 1500*time.Millisecond)), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")
	via := l
	for _, m := range c.members {
		if !m.srv.IsLeader() {
			via = m
			break
		}
	}
	g, err := c.apiClient(via, "op", "").Transfer(ctxT(t, 30*time.Second), "db", api.TransferRequest{To: "n2", Timeout: "500ms"})
	wantAPIError(t, "transfer with a short timeout", err, api.ErrInProgress, api.CodeInProgress, http.StatusAccepted)
	if g == nil || g.Name != "db" || (g.Epoch <= before.Status.Epoch && g.Target != "n2") {
		t.Fatalf("in-progress answer carries %+v; want the committed move (stopping towards n2, or epoch > %d)", g, before.Status.Epoch)
	}
	c.waitOnline("db", "n2")
}

// TestFailMapsTimeoutsByTheirSentinel: every timeout is answered 504 with
// code timeout because it wraps a timeout sentinel; an error whose text
// merely starts with "timed out" is not one.
func TestFailMapsTimeoutsByTheirSentinel(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   api.Code
	}{
		{context.DeadlineExceeded, http.StatusGatewayTimeout, api.CodeTimeout},
		{fmt.Errorf("%w: group db is starting on n2 at epoch 7 ()", errWaitTimedOut), http.StatusGatewayTimeout, api.CodeTimeout},
		{fmt.Errorf("%w waiting for the FSM to apply index 9", errWaitTimedOut), http.StatusGatewayTimeout, api.CodeTimeout},
		{fmt.Errorf("add n3 to the raft configuration: %w", raft.ErrEnqueueTimeout), http.StatusGatewayTimeout, api.CodeEnqueueTimeout},
		{wireCodec.Decode(&rpcwire.Error{Codes: []rpcwire.Code{rpcwire.Code(errorCode(errWaitTimedOut))}, Msg: "timed out: forwarded"}), http.StatusGatewayTimeout, api.CodeTimeout},
		{fmt.Errorf("%w: leadership not verified in time: %w", ErrNoQuorum, context.DeadlineExceeded), http.StatusGatewayTimeout, api.CodeTimeout},
		{ErrNoQuorum, http.StatusServiceUnavailable, api.CodeNoQuorum},
		{errors.New("timed out, says the text only"), http.StatusInternalServerError, api.CodeInternal},
	} {
		rec := httptest.NewRecorder()
		fail(rec, tc.err)
		var body api.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != tc.status || body.Code != tc.code || body.Message != tc.err.Error() {
			t.Errorf("fail(%v): HTTP %d %+v; want %d code %q", tc.err, rec.Code, body, tc.status, tc.code)
		}
	}
}
