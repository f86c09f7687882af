package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/transport"
)

// TestTransferInProgressExitCode: when the API answers 202 (the move was
// committed but did not finish in time), `raftha ownership transfer` says
// so and exits with exitInProgress, not as a failure (1) nor a success.
func TestTransferInProgressExitCode(t *testing.T) {
	clearClientEnv(t)
	dir := t.TempDir()
	if err := transport.CreateCA(dir, "", 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api", "op"} {
		if err := transport.CreateCert(dir, transport.CertRequest{Name: name, Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := transport.Load(transport.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "api.pem"), Key: filepath.Join(dir, "api-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.TransferInProgress{Error: "the move was committed and is still in progress", Code: api.CodeInProgress,
			Group: api.GroupStatus{Name: "db", Owner: "n2", Epoch: 42, State: "starting"}})
	}))
	srv.TLS = b.APIServerConfig()
	srv.StartTLS()
	defer srv.Close()

	out, errs, code := runMain(t, "ownership", "transfer", "db", "--to", "n2", "--timeout", "1s",
		"--api", srv.URL, "--ca-cert", filepath.Join(dir, "ca.pem"),
		"--client-cert", filepath.Join(dir, "op.pem"), "--client-key", filepath.Join(dir, "op-key.pem"))
	if code != exitInProgress {
		t.Fatalf("exit %d (stdout %q, stderr %q), want %d", code, out, errs, exitInProgress)
	}
	if !strings.Contains(errs, "still in progress") || !strings.Contains(errs, "epoch 42") || strings.Contains(out, "is online") {
		t.Fatalf("stdout %q stderr %q", out, errs)
	}
}
