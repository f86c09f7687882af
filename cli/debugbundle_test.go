package cli

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readBundle returns the files of a debug bundle by their name inside
// its directory.
func readBundle(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		_, name, _ := strings.Cut(h.Name, "/")
		out[name] = string(data)
	}
}

// TestDebugBundle: against a real three-node cluster, one archive holds
// the status, every group's why, the metrics and the goroutine stacks of
// the member asked, the member config with its token hash redacted, and
// the tail of a log file; then, with one member left (no leader), the
// bundle is still written, with the member's own status marked stale.
func TestDebugBundle(t *testing.T) {
	c := newThreeGroupCluster(t, "access:\n  tokens:\n    - {name: ops, role: operate, sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n")
	dir := t.TempDir()
	log := filepath.Join(dir, "agent.log")
	var lines []string
	for i := 0; i < 100; i++ {
		lines = append(lines, "line "+strings.Repeat("x", i%7))
	}
	lines[99] = "the last line"
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b.tar.gz")
	stdout, stderr, code := c.cli("n1", "debug", "bundle", "--out", out, "--config", c.member("n1").cfgFile, "--log", log, "--log-lines", "10")
	if code != 0 {
		t.Fatalf("debug bundle: exit %d\n%s%s", code, stdout, stderr)
	}
	files := readBundle(t, out)
	for _, name := range []string{"status.json", "members.json", "groups.json", "why/db.json", "why/cache.json", "why/web.json", "metrics.txt", "goroutines.txt", "config-redacted.yaml", "agent.log", "health.json"} {
		if files[name] == "" {
			t.Errorf("%s missing or empty in the bundle (files: %d)", name, len(files))
		}
	}
	if _, ok := files["errors.txt"]; ok {
		t.Errorf("errors.txt on a healthy cluster: %s", files["errors.txt"])
	}
	if !strings.Contains(files["metrics.txt"], "raftha_build_info") || !strings.Contains(files["goroutines.txt"], "goroutine ") {
		t.Errorf("metrics or goroutine stacks are not the member's")
	}
	if !strings.Contains(files["why/db.json"], "online") || !strings.Contains(files["status.json"], `"leader"`) {
		t.Errorf("why or status without their content:\n%s", files["why/db.json"])
	}
	if strings.Contains(files["config-redacted.yaml"], "0123456789abcdef") || !strings.Contains(files["config-redacted.yaml"], "sha256: <redacted>") {
		t.Errorf("the token hash was not redacted:\n%s", files["config-redacted.yaml"])
	}
	if got := strings.Count(files["agent.log"], "\n"); got != 10 || !strings.HasSuffix(files["agent.log"], "the last line\n") {
		t.Errorf("log tail: %d lines, want the last 10:\n%s", got, files["agent.log"])
	}

	// Without a quorum: still an archive.
	c.kill("n2")
	c.kill("n3")
	c.wait(20*time.Second, "n1 without a leader", func() bool { return c.member("n1").srv.LeaderID() == "" })
	out2 := filepath.Join(dir, "noquorum.tar.gz")
	stdout, stderr, code = c.cli("n1", "debug", "bundle", "--out", out2, "--timeout", "3s")
	if code != 0 {
		t.Fatalf("debug bundle without quorum: exit %d\n%s%s", code, stdout, stderr)
	}
	files = readBundle(t, out2)
	// The status is the member's own stale view, said so (anything that
	// could not be had would be listed in errors.txt).
	if !strings.Contains(files["status.json"], `"stale": true`) || files["health.json"] == "" || files["goroutines.txt"] == "" {
		t.Fatalf("without quorum: status %q, errors.txt %q, health %d bytes, goroutines %d bytes", files["status.json"], files["errors.txt"], len(files["health.json"]), len(files["goroutines.txt"]))
	}
	t.Logf("without quorum, errors.txt:\n%s", files["errors.txt"])
}

// TestRedactConfigHookURL: a hook's url keeps its scheme and host only; a
// webhook's path and query are often the secret.
func TestRedactConfigHookURL(t *testing.T) {
	in := "hooks:\n  - name: chat\n    url: https://hooks.example.com/services/T0/B1/XYZsecret?token=abc\n    events: [takeover]\n  - {name: p, url: \"http://10.0.0.1:8080/x/y\"}\n"
	out := string(redactConfig([]byte(in)))
	for _, secret := range []string{"XYZsecret", "token=abc", "x/y"} {
		if strings.Contains(out, secret) {
			t.Errorf("redacted config still holds %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "url: https://hooks.example.com/<redacted>") {
		t.Errorf("redacted config lost the url's host:\n%s", out)
	}
}
