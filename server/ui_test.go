package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/transport"
)

// chromiumPath is where Debian's chromium package installs the browser
// (apt-get install -y chromium).
const chromiumPath = "/usr/bin/chromium"

// TestUIDashboardBrowser drives the dashboard in headless Chromium against a
// real 3-member cluster: it signs in with an operate token from the URL
// fragment, moves group db from n1 to n2 with the page's Move button, checks
// the owner and epoch the page shows against the log, takes a screenshot,
// then signs in with a read token and checks that Move is disabled and that
// the server's 403 reaches the page.
func TestUIDashboardBrowser(t *testing.T) {
	c, browser, opToken, rdToken, g1 := uiCluster(t)
	l := c.leader()
	base := "https://" + l.cfg.API

	// The dashboard's files need no credentials; the API does.
	client := caOnlyClient(t, c)
	if code := httpGet(t, client, base+"/ui/"); code != http.StatusOK {
		t.Fatalf("GET /ui/ without credentials: %d, want 200", code)
	}
	if code := httpGet(t, client, base+"/v1/status"); code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/status without credentials: %d, want 401", code)
	}

	// Operate token: sign in through the fragment, then move db to n2.
	page := pageT{t: t, ctx: browser}
	page.navigate("open the dashboard", base+"/ui/#token="+opToken)
	page.waitFor("group db online on n1", `(() => {
		const r = document.querySelector('tr[data-group="db"]');
		return !!r && r.querySelector('.owner').textContent === 'n1' && r.querySelector('.state').dataset.state === 'online';
	})()`)
	if got := page.str(`location.href`); strings.Contains(got, "token") || !strings.HasSuffix(got, "/ui/") {
		t.Errorf("address bar after sign-in: %q (want the token removed, at /ui/)", got)
	}
	if got := page.str(`sessionStorage.getItem('raftha.token')`); got != opToken {
		t.Errorf("sessionStorage token %q, want the operate token", got)
	}
	page.waitFor("identity and role shown", `document.getElementById('identity').textContent === 'token:ui-operator' &&
		document.getElementById('role').textContent === 'operate'`)
	if got := page.str(`document.querySelector('tr[data-group="db"] .epoch').textContent`); got != fmt.Sprint(g1.Status.Epoch) {
		t.Errorf("page shows epoch %s for db, the log has %d", got, g1.Status.Epoch)
	}
	if got := page.str(`document.getElementById('leader').textContent`); got != "n1" && got != "n2" && got != "w1" {
		t.Errorf("page shows leader %q, want a member", got)
	}
	if got := page.str(`[...document.querySelectorAll('tr[data-group="db"] select.move-to option')].map(o => o.value).join(',')`); got != ",n2" {
		t.Errorf("move-to choices %q, want only n2 (and the placeholder)", got)
	}
	page.do("choose n2 and click Move",
		chromedp.SetValue(chromedp.CSS(`tr[data-group="db"] select.move-to`), "n2"),
		chromedp.Click(chromedp.CSS(`tr[data-group="db"] button.move`)),
	)
	page.waitFor("the move in progress or done", `(() => {
		const m = document.querySelector('tr[data-group="db"] .move-result');
		return m.classList.contains('moving') || m.classList.contains('ok');
	})()`)
	g2 := c.waitOnline("db", "n2")
	if g2.Status.Epoch <= g1.Status.Epoch {
		t.Fatalf("epoch after the move %d, before %d", g2.Status.Epoch, g1.Status.Epoch)
	}
	page.waitFor("owner n2 and the new epoch on the page", fmt.Sprintf(`(() => {
		const r = document.querySelector('tr[data-group="db"]');
		return r.querySelector('.owner').textContent === 'n2' && r.querySelector('.epoch').textContent === '%d' &&
			r.querySelector('.state').dataset.state === 'online';
	})()`, g2.Status.Epoch))
	page.waitFor("the move's outcome", fmt.Sprintf(`(() => {
		const m = document.querySelector('tr[data-group="db"] .move-result');
		return m.classList.contains('ok') && m.textContent.includes('moved to n2') && m.textContent.includes('epoch %d');
	})()`, g2.Status.Epoch))
	page.waitFor("the transfer's events, by the token", `[...document.querySelectorAll('#events td.by')].some(td => td.textContent === 'token:ui-operator')`)
	if got := c.group("db"); got.Status.Owner != "n2" || got.Status.Epoch != g2.Status.Epoch {
		t.Fatalf("log after the move: %+v", got.Status)
	}
	if got := page.str(`document.querySelector('#events tbody tr').dataset.seq`); got == "" {
		t.Error("no events shown")
	}
	page.screenshot("dashboard.png")

	// Read token: Move is disabled, and the server refuses a move anyway.
	page.navigate("reopen with the read token", base+"/ui/#token="+rdToken)
	page.waitFor("role read and db on n2", `document.getElementById('role').textContent === 'read' &&
		document.getElementById('identity').textContent === 'token:ui-reader' &&
		document.querySelector('tr[data-group="db"] .owner')?.textContent === 'n2'`)
	page.waitFor("Move disabled for role read", `(() => {
		const r = document.querySelector('tr[data-group="db"]');
		return r.querySelector('button.move').disabled && r.querySelector('select.move-to').disabled &&
			r.querySelector('button.move').title.includes('role read');
	})()`)
	type apiAnswer struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Error  string `json:"error"`
	}
	raw := evalT[apiAnswer](page, `fetch('/v1/groups/db/transfer', {method: 'POST',
		headers: {'Authorization': 'Bearer ' + sessionStorage.getItem('raftha.token'), 'Content-Type': 'application/json'},
		body: JSON.stringify({to: 'n1', timeout: '10s'})})
		.then(async r => { const b = await r.json(); return {status: r.status, code: b.code || '', error: b.error || ''}; })`)
	if raw.Status != http.StatusForbidden || raw.Code != "forbidden" || !strings.Contains(raw.Error, "role read") {
		t.Errorf("fetch POST with the read token: %+v, want 403 forbidden with 'role read'", raw)
	}
	// The page's own move (what the button calls) shows the refusal.
	ui := evalT[apiAnswer](page, `window.rafthaUI.move('db', 'n1')`)
	if ui.Status != http.StatusForbidden || !strings.Contains(ui.Error, "role read") {
		t.Errorf("the page's move with the read token: %+v, want 403 'role read'", ui)
	}
	page.waitFor("the refusal shown in the row", `(() => {
		const m = document.querySelector('tr[data-group="db"] .move-result');
		return m.classList.contains('error') && m.textContent.includes('403') && m.textContent.includes('role read');
	})()`)
	if got := c.group("db"); got.Status.Owner != "n2" || got.Status.Epoch != g2.Status.Epoch {
		t.Fatalf("a read token moved the group: %+v", got.Status)
	}
	page.screenshot("dashboard-read.png")

	// A token the cluster does not know: back to the token prompt, saying why.
	page.navigate("open with an unknown token", base+"/ui/#token=rha_unknown")
	page.waitFor("the token prompt with the refusal", `!document.getElementById('login').hidden &&
		document.getElementById('main').hidden && document.getElementById('login-msg').textContent.includes('refused') &&
		sessionStorage.getItem('raftha.token') === null`)
	page.screenshot("dashboard-login.png")
	page.do("sign in again with the token prompt",
		chromedp.SendKeys(chromedp.CSS(`#token-input`), rdToken),
		chromedp.Click(chromedp.CSS(`#login-form button`)),
	)
	page.waitFor("signed in through the prompt", `document.getElementById('role').textContent === 'read' &&
		document.querySelector('tr[data-group="db"] .owner')?.textContent === 'n2'`)

	// The member the page talks to loses its quorum: the STALE banner.
	for _, m := range c.members {
		if m != l {
			c.kill(m.cfg.NodeID)
		}
	}
	page.waitFor("the STALE banner", `!document.getElementById('stale-banner').hidden &&
		document.getElementById('stale-banner').textContent.includes('STALE') &&
		document.getElementById('stale-reason').textContent.length > 0`)
	page.screenshot("dashboard-stale.png")
	// And then it is gone: the unreachable banner.
	c.kill(l.cfg.NodeID)
	page.waitFor("the API-unreachable banner", `!document.getElementById('error-banner').hidden &&
		document.getElementById('error-banner').textContent.includes('Cannot reach the raftha API')`)
}

// randomToken returns a fresh bearer token.
func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "rha_test_" + hex.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// caOnlyClient trusts the cluster CA and presents no client certificate.
func caOnlyClient(t *testing.T, c *testCluster) *http.Client {
	tc, err := transport.LoadClient(filepath.Join(c.tlsDir, "ca.pem"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

func httpGet(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// newBrowser starts headless Chromium for one test and returns its tab's
// context. It skips the test when Chromium is not installed, except in CI
// (CI=true), where a missing browser is a failure.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (%v): CI must install Debian's chromium package (apt-get install -y chromium)", chromiumPath, err)
		}
		t.Skipf("%s is missing: install Debian's chromium package (apt-get install -y chromium) to run the dashboard browser test", chromiumPath)
	}
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-in, first-out)
	var out testsupport.SyncBuffer
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.IgnoreCertErrors, // the cluster's own CA
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-proxy-server", true),
		// Only loopback is ever dialed: no name resolves.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
		chromedp.CombinedOutput(&out),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		if t.Failed() {
			s := out.String()
			if len(s) > 4000 {
				s = s[len(s)-4000:]
			}
			t.Logf("---- chromium output (tail) ----\n%s", s)
		}
	})
	// The first run starts the browser; it must not carry a timeout (a
	// timeout would end the browser), so it is bounded by a watchdog.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("chromium did not start within 60s")
	}
	return ctx
}

// pageT runs bounded browser steps for a test.
type pageT struct {
	t   *testing.T
	ctx context.Context
}

// stepTimeout bounds one browser step; waitTimeout bounds one waitFor.
const (
	stepTimeout = 20 * time.Second
	waitTimeout = 30 * time.Second
)

func (p pageT) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.text())
	}
}

// navigate opens url afresh (through about:blank, so that a new fragment
// reloads the page). A failed load is tried again, twice: Chromium fails
// a load under way with ERR_NETWORK_CHANGED when any interface of the
// machine changes (other tests create network namespaces).
func (p pageT) navigate(what, url string) {
	p.t.Helper()
	var err error
	for try := 1; try <= 3; try++ {
		ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
		err = chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url))
		cancel()
		if err == nil || p.ctx.Err() != nil {
			break
		}
		p.t.Logf("%s: try %d: %v", what, try, err)
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("%s: %v\npage text:\n%s", what, err, p.text())
	}
}

func (p pageT) str(expr string) string {
	p.t.Helper()
	return evalT[string](p, expr)
}

// evalT evaluates expr in the page, awaiting it when it is a promise.
func evalT[T any](p pageT, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls the JavaScript condition cond until it is true.
func (p pageT) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if p.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("timed out after %s waiting for %s (last error: %v)\npage text:\n%s", waitTimeout, what, lastErr, p.text())
}

// text is the page's visible text, for failure messages.
func (p pageT) text() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// screenshot saves a full-page PNG under the test's temp dir, and also
// under $RAFTHA_SCREENSHOT_DIR when set, after checking it decodes.
func (p pageT) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		p.t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 200 {
		p.t.Fatalf("screenshot is %dx%d", b.Dx(), b.Dy())
	}
	dirs := []string{p.t.TempDir()}
	if d := os.Getenv("RAFTHA_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			p.t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			p.t.Fatalf("screenshot %s: %v (empty or missing)", path, err)
		}
		p.t.Logf("screenshot: %s (%d bytes)", path, len(buf))
	}
}
