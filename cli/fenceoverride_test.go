package cli

import (
	"strings"
	"testing"
)

// TestFenceOverrideNeedsAcceptRisk: the override is never run without a
// stated reason; with one, it goes to the API (here: no CA configured).
func TestFenceOverrideNeedsAcceptRisk(t *testing.T) {
	clearClientEnv(t)
	if _, errs, code := runMain(t, "group", "fence-override", "db"); code != 2 || !strings.Contains(errs, "accept-risk") {
		t.Errorf("without --accept-risk: exit %d, stderr %q; want exit 2 naming the flag", code, errs)
	}
	_, errs, code := runMain(t, "group", "fence-override", "db", "--accept-risk", "n1 is powered off")
	if code == 0 || !strings.Contains(errs, "--ca-cert") {
		t.Errorf("with a reason: exit %d, stderr %q; want the missing --ca-cert error", code, errs)
	}
}
