package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestHealthReadyReasonUnchanged: the move kept the ready answer's text as
// the agent gave it before (server/health.go at 53776d2): load balancers
// and operators read the reason, and a move must not change behaviour.
func TestHealthReadyReasonUnchanged(t *testing.T) {
	b := &fakeBackend{started: true, leader: "n2", leaseLeft: time.Second}
	a, _ := newFakeAPI(t, b)
	rec := call(a.healthHandler(), "GET", "/health/ready", "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("ready: %d %s", rec.Code, rec.Body)
	}
	var h HealthAnswer
	if err := json.NewDecoder(rec.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if want := "a leader is known and confirmed this member's lease"; h.Reason != want {
		t.Fatalf("ready reason %q, want %q (as before the move)", h.Reason, want)
	}
}
