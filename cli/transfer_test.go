package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestTransferInProgressExitCode: when the API answers 202 (the move was
// committed but did not finish in time), `raftha ownership transfer` says
// so and exits with exitInProgress, not as a failure (1) nor a success.
func TestTransferInProgressExitCode(t *testing.T) {
	flags := fakeAPI(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.TransferInProgress{Error: "the move was committed and is still in progress", Code: api.CodeInProgress,
			Group: api.GroupStatus{Name: "db", Owner: "n2", Epoch: 42, State: "starting"}})
	}))

	out, errs, code := runMain(t, append([]string{"ownership", "transfer", "db", "--to", "n2", "--timeout", "1s"}, flags...)...)
	if code != exitInProgress {
		t.Fatalf("exit %d (stdout %q, stderr %q), want %d", code, out, errs, exitInProgress)
	}
	if !strings.Contains(errs, "still in progress") || !strings.Contains(errs, "epoch 42") || strings.Contains(out, "is online") {
		t.Fatalf("stdout %q stderr %q", out, errs)
	}
}
