package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
)

// TestUIResourceRows drives the dashboard in headless Chromium against a
// real 3-member cluster: under group db's row it shows a row per resource
// from resource_status, and a restart of web on n1 appears there with its
// count, state and last error. It saves a screenshot.
func TestUIResourceRows(t *testing.T) {
	token := randomToken(t)
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{Tokens: []config.TokenConfig{{Name: "ui-reader", Role: api.RoleRead, SHA256: sha256Hex(token)}}}
	})
	browser := newBrowser(t)
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	dir := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(resStatusGroup(dir)), "test"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	c.waitOnline("db", "n1")

	page := pageT{t: t, ctx: browser}
	page.do("open the dashboard", chromedp.Navigate("https://"+l.cfg.API+"/ui/#token="+token))
	page.waitFor("a row per resource under db, both running on n1", `(() => {
		const rr = document.querySelector('tr[data-group-resources="db"]');
		if (!rr || rr.previousElementSibling !== document.querySelector('tr[data-group="db"]')) return false;
		const names = [...rr.querySelectorAll('tr[data-resource]')].map(tr => tr.dataset.resource).join(',');
		return names === 'app,web' && [...rr.querySelectorAll('td.rstate')].every(td => td.textContent === 'running') &&
			rr.querySelector('tr[data-resource="app"] .rname').textContent === 'app (exec) on n1';
	})()`)
	if err := os.WriteFile(filepath.Join(dir, "fail.web"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	page.waitFor("web's restart, its last error and its stop duration", `(() => {
		const tr = document.querySelector('tr[data-group-resources="db"] tr[data-resource="web"]');
		return !!tr && tr.querySelector('.rrestarts').textContent === '1' && tr.querySelector('.rerr').textContent.includes('web-broken') &&
			tr.querySelector('.rstop').textContent.endsWith('ms') && tr.querySelector('.rstate').textContent === 'running';
	})()`)
	page.screenshot("dashboard-resources.png")
}
