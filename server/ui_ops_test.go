package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// uiCluster starts n1, n2 and w1 with two API tokens, token:ui-operator
// (operate) and token:ui-reader (read), and a browser; group db (a marker
// group on n1, n2) is online on n1, as g.
func uiCluster(t *testing.T) (c *testCluster, browser context.Context, opToken, rdToken string, g fsm.Group) {
	opToken, rdToken = randomToken(t), randomToken(t)
	c = newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{Tokens: []config.TokenConfig{
			{Name: "ui-operator", Role: api.RoleOperate, SHA256: sha256Hex(opToken)},
			{Name: "ui-reader", Role: api.RoleRead, SHA256: sha256Hex(rdToken)},
		}}
	})
	browser = newBrowser(t) // before the cluster: a missing browser skips early
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return c, browser, opToken, rdToken, c.waitOnline("db", "n1")
}

// apiGetAs reads GET base+path through the API with token, as JSON.
func apiGetAs[T any](t *testing.T, client *http.Client, base, path, token string) T {
	t.Helper()
	var out T
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return out
}

// apiStatusAs reads GET /v1/status with token.
func apiStatusAs(t *testing.T, client *http.Client, base, token string) api.Status {
	t.Helper()
	return apiGetAs[api.Status](t, client, base, "/v1/status", token)
}

// uiHistoryRows is how many events a group's history shows (ops.js
// HISTORY_ROWS).
const uiHistoryRows = 25

// apiGroupEventsAs reads GET /v1/events?group=GROUP with token.
func apiGroupEventsAs(t *testing.T, client *http.Client, base, token, group string) []fsm.Event {
	t.Helper()
	return apiGetAs[[]fsm.Event](t, client, base, "/v1/events?group="+group, token)
}

// statusGroup and statusMember pick one group and one member of st.
func statusGroup(st api.Status, name string) api.GroupStatus {
	for _, g := range st.Groups {
		if g.Name == name {
			return g
		}
	}
	return api.GroupStatus{}
}

func statusMember(st api.Status, id string) api.MemberStatus {
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	return api.MemberStatus{}
}

// TestUIDashboardActions drives the dashboard's group actions (suspend,
// resume, stop, start), a group's history and a member's standby and
// unstandby in headless Chromium against a real 3-member cluster, each
// click checked against the cluster through the API; then, signed in with
// a read token, every action is disabled and the page's own calls show
// the server's 403. Screenshots: dashboard-actions*.png.
func TestUIDashboardActions(t *testing.T) {
	c, browser, opToken, rdToken, _ := uiCluster(t)
	// A node's API: a witness that is not the leader forwards no change
	// (it answers 403 saying so, which the page shows).
	base := "https://" + c.member("n2").cfg.API
	client := caOnlyClient(t, c)
	page := pageT{t: t, ctx: browser}
	// waitAPI polls the cluster's status, through the API, until cond.
	waitAPI := func(what string, cond func(api.Status) bool) api.Status {
		t.Helper()
		for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if st := apiStatusAs(t, client, base, opToken); cond(st) {
				return st
			}
		}
		st := apiStatusAs(t, client, base, opToken)
		t.Fatalf("timed out after %s waiting for %s (through the API): status %+v\npage text:\n%s", waitTimeout, what, st, page.text())
		return st
	}
	const row = `document.querySelector('tr[data-group="db"]')`
	const btn = `document.querySelector('tr[data-group="db"] button.act.%s')`
	shown := func(action string) string {
		return fmt.Sprintf(`(() => { const b = `+btn+`; return !!b && !b.hidden && !b.disabled; })()`, action)
	}
	click := func(what, sel string) {
		t.Helper()
		page.do(what, chromedp.Click(chromedp.CSS(sel)))
	}
	// actUntil clicks sel (twice when confirm: the confirming click) until
	// the API shows cond. A loaded machine may leave the cluster without a
	// leader for a moment: the page then shows the API's refusal (503
	// no_leader) in result, and the action is tried again, up to 3 times;
	// so is a click that left the result unchanged for 5s.
	actUntil := func(what, sel string, confirm bool, result string, cond func(api.Status) bool) api.Status {
		t.Helper()
		resultText := `document.querySelector('` + result + `').textContent`
		for try := 1; ; try++ {
			before := page.str(resultText)
			click(what, sel)
			if confirm {
				page.waitFor(what+": armed, asking to confirm", `(() => { const b = document.querySelector('`+sel+`');
					return b.classList.contains('armed') && b.textContent.startsWith('Confirm'); })()`)
				if try == 1 && cond(apiStatusAs(t, client, base, opToken)) {
					t.Fatalf("%s: one click acted, without the confirming click", what)
				}
				click(what+": confirm", sel)
			}
			clicked := time.Now()
			for deadline := clicked.Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if st := apiStatusAs(t, client, base, opToken); cond(st) {
					return st
				}
				msg := page.str(resultText)
				if try < 3 && (strings.Contains(msg, "✗") || (msg == before && time.Since(clicked) > 5*time.Second)) {
					break
				}
			}
			msg := page.str(resultText)
			if try == 3 {
				t.Fatalf("%s: the API does not show it after %d tries; the page says %q\npage text:\n%s", what, try, msg, page.text())
			}
			t.Logf("%s: try %d: the page says %q (before the click: %q); again", what, try, msg, before)
			time.Sleep(time.Second)
		}
	}

	page.navigate("open the dashboard", base+"/ui/#token="+opToken)
	page.waitFor("db online on n1, the role operate", row+`?.querySelector('.owner').textContent === 'n1' &&
		document.getElementById('role').textContent === 'operate'`)

	// Suspend, then resume.
	page.waitFor("Suspend offered, Resume and Start not", shown("suspend")+` && `+fmt.Sprintf(btn, "resume")+`.hidden && `+fmt.Sprintf(btn, "start")+`.hidden`)
	const dbResult = `tr[data-group="db"] .move-result`
	actUntil("click Suspend", `tr[data-group="db"] button.act.suspend`, false, dbResult, func(st api.Status) bool { return statusGroup(st, "db").Suspended })
	page.waitFor("the page shows db suspended and offers Resume", row+`.querySelector('.suspended').textContent === 'yes' && `+shown("resume")+` &&
		`+row+`.querySelector('.move-result').textContent.includes('db suspended')`)
	actUntil("click Resume", `tr[data-group="db"] button.act.resume`, false, dbResult, func(st api.Status) bool { return !statusGroup(st, "db").Suspended })
	page.waitFor("the page shows db resumed", row+`.querySelector('.suspended').textContent === 'no' && `+shown("suspend"))

	// Stop asks for a confirming click; then Start places it again.
	stopped := actUntil("click Stop", `tr[data-group="db"] button.act.stop`, true, dbResult, func(st api.Status) bool {
		g := statusGroup(st, "db")
		return g.State == "offline" && g.Suspended
	})
	page.waitFor("the stop's outcome", `document.querySelector('`+dbResult+`').textContent.includes('db stopped')`)
	page.waitFor("the page shows db offline, offering only Start", row+`.querySelector('.state').dataset.state === 'offline' && `+shown("start")+` &&
		`+fmt.Sprintf(btn, "stop")+`.hidden && `+fmt.Sprintf(btn, "resume")+`.hidden && `+fmt.Sprintf(btn, "suspend")+`.hidden`)
	started := actUntil("click Start", `tr[data-group="db"] button.act.start`, false, dbResult, func(st api.Status) bool {
		g := statusGroup(st, "db")
		return g.State == "online" && g.Owner == "n1" && !g.Suspended
	})
	if g := statusGroup(started, "db"); g.Epoch <= statusGroup(stopped, "db").Epoch {
		t.Errorf("epoch after Start %d, at the stop %d", g.Epoch, statusGroup(stopped, "db").Epoch)
	}
	page.waitFor("the page shows db online again", row+`.querySelector('.state').dataset.state === 'online' && `+shown("stop"))

	// The group's history: its last events (GET /v1/events?group=db),
	// newest first, among them the actions above, by the token.
	click("open db's history", `tr[data-group="db"] button.act.history`)
	const hist = `document.querySelector('tr[data-group-detail="db"]')`
	historyShown := func(token string) {
		t.Helper()
		var want, got string
		for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			evs := apiGroupEventsAs(t, client, base, token, "db")
			var seqs []string
			for i := len(evs) - 1; i >= 0 && len(seqs) < uiHistoryRows; i-- {
				seqs = append(seqs, fmt.Sprint(evs[i].Seq))
			}
			want = strings.Join(seqs, ",")
			got = page.str(`(() => { const d = ` + hist + `; return !d || d.hidden ? 'hidden' :
				[...d.querySelectorAll('tr[data-seq]')].map(tr => tr.dataset.seq).join(','); })()`)
			if got == want && want != "" {
				return
			}
		}
		t.Fatalf("db's history on the page %q, want the API's last events %q\npage text:\n%s", got, want, page.text())
	}
	historyShown(opToken)
	done := map[string]bool{}
	for _, e := range apiGroupEventsAs(t, client, base, opToken, "db") {
		if e.By == "token:ui-operator" {
			done[string(e.Kind)] = true
		}
	}
	for _, k := range []string{"suspended", "resumed", "stopping"} {
		if !done[k] {
			t.Errorf("no %s event by token:ui-operator in db's history: %v", k, done)
		}
	}

	// Standby n1, the owner: it stays a voter, db moves to n2.
	const n1row = `document.querySelector('tr[data-member="n1"]')`
	page.waitFor("n1 reachable, not on standby, Standby offered", n1row+`.querySelector('.healthy').textContent === 'yes' &&
		`+n1row+`.querySelector('.standby').textContent === 'no' && `+n1row+`.querySelector('button.act').textContent === 'Standby' &&
		`+`document.querySelector('tr[data-member="w1"] button.act').hidden`)
	const n1Result = `tr[data-member="n1"] .move-result`
	actUntil("click Standby on n1", `tr[data-member="n1"] button.act`, true, n1Result, func(st api.Status) bool { return statusMember(st, "n1").Standby != nil })
	st := waitAPI("db moved to n2", func(st api.Status) bool { g := statusGroup(st, "db"); return g.Owner == "n2" && g.State == "online" })
	if m := statusMember(st, "n1"); !m.Voter || m.Standby.By != "token:ui-operator" {
		t.Errorf("n1 on standby: %+v (want still a voter, by token:ui-operator)", m)
	}
	page.waitFor("the page shows n1 on standby, db on n2", n1row+`.querySelector('.standby').textContent.includes('by token:ui-operator') &&
		`+n1row+`.querySelector('button.act').textContent === 'Unstandby' && `+row+`.querySelector('.owner').textContent === 'n2' &&
		`+n1row+`.querySelector('.move-result').textContent.includes('n1 on standby')`)
	page.screenshot("dashboard-actions.png")
	actUntil("click Unstandby on n1", `tr[data-member="n1"] button.act`, false, n1Result, func(st api.Status) bool { return statusMember(st, "n1").Standby == nil })
	page.waitFor("the page shows n1 off standby", n1row+`.querySelector('.standby').textContent === 'no' &&
		`+n1row+`.querySelector('button.act').textContent === 'Standby'`)

	// Read token: every action disabled, saying why; the page's own calls
	// get the server's 403 and show it; the history still opens.
	page.navigate("reopen with the read token", base+"/ui/#token="+rdToken)
	page.waitFor("role read, db shown", `document.getElementById('role').textContent === 'read' && !!`+row+`?.querySelector('.owner').textContent`)
	page.waitFor("every action disabled for role read", `(() => {
		const bs = [...document.querySelectorAll('button.act:not(.history), button.move')];
		return bs.length >= 6 && bs.every(b => b.disabled && b.title.includes('role read')) &&
			!document.querySelector('tr[data-group="db"] button.act.history').disabled;
	})()`)
	type apiAnswer struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Error  string `json:"error"`
	}
	for _, action := range []string{"suspend", "stop"} {
		ans := evalT[apiAnswer](page, `window.rafthaUI.act('db', '`+action+`')`)
		if ans.Status != http.StatusForbidden || ans.Code != string(api.CodeForbidden) || !strings.Contains(ans.Error, "role read") {
			t.Errorf("the page's %s with the read token: %+v, want 403 forbidden 'role read'", action, ans)
		}
	}
	page.waitFor("the refusal shown in db's row", row+`.querySelector('.move-result').classList.contains('error') &&
		`+row+`.querySelector('.move-result').textContent.includes('403 forbidden') && `+row+`.querySelector('.move-result').textContent.includes('role read')`)
	ans := evalT[apiAnswer](page, `window.rafthaUI.standby('n2', true)`)
	if ans.Status != http.StatusForbidden || !strings.Contains(ans.Error, "role read") {
		t.Errorf("the page's standby with the read token: %+v, want 403 'role read'", ans)
	}
	page.waitFor("the refusal shown in n2's row", `document.querySelector('tr[data-member="n2"] .move-result').textContent.includes('403 forbidden')`)
	st = apiStatusAs(t, client, base, opToken)
	if g, m := statusGroup(st, "db"), statusMember(st, "n2"); g.Suspended || m.Standby != nil {
		t.Fatalf("a read token changed the cluster: db %+v, n2 standby %+v", g, m.Standby)
	}
	for _, e := range st.Events {
		if e.By == "token:ui-reader" {
			t.Errorf("an event by the read token: %+v", e)
		}
	}
	click("open db's history (read token)", `tr[data-group="db"] button.act.history`)
	historyShown(rdToken)
	page.screenshot("dashboard-actions-read.png")
}
