// raftha dashboard: polls GET /v1/status, shows members, groups and events,
// and moves groups with POST /v1/groups/{name}/transfer. ops.js adds the
// other group actions, each group's history and the members' health and
// standby. Every API call carries the bearer token kept in sessionStorage.
// No dependencies.
"use strict";

(function () {
  const TOKEN_KEY = "raftha.token";
  const POLL_MS = 1000; // pause between two status polls
  const STATUS_TIMEOUT_MS = 6000; // the server bounds a status read at 5s
  const WHOAMI_TIMEOUT_MS = 5000;
  const MOVE_TIMEOUT = "60s"; // sent to the server
  const MOVE_CLIENT_TIMEOUT_MS = 75000; // a little more than MOVE_TIMEOUT

  const state = {
    token: null,
    identity: null,
    role: null, // "read", "operate" or null when unknown
    whoamiPending: false,
    gen: 0, // bumped on every (re)start: late answers of an old run are dropped
    timer: null,
    lastOK: null, // Date of the last good status
    last: null, // last good status
    rows: new Map(), // group name -> row elements
    moves: new Map(), // group name -> last action {phase: moving|ok|error, text}
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function setText(node, text) {
    const t = text === undefined || text === null || text === "" ? "–" : String(text);
    if (node.textContent !== t) node.textContent = t;
  }

  // --- token -------------------------------------------------------------

  // takeFragmentToken moves #token=... from the address bar into
  // sessionStorage, so the token is not left in the history or on screen.
  function takeFragmentToken() {
    const h = location.hash.replace(/^#/, "");
    if (!h) return;
    const t = new URLSearchParams(h).get("token");
    if (t === null) return;
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    start();
    if (message) {
      $("login-msg").textContent = message;
      $("login-msg").hidden = false;
    }
  }

  // --- API ---------------------------------------------------------------

  // api calls the raftha API and never throws. It answers
  // {ok, status, data, error, code}; status is 0 when no answer came.
  async function api(method, path, body, timeoutMs) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const headers = { Accept: "application/json", Authorization: "Bearer " + state.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal,
        cache: "no-store",
      });
      const text = await resp.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (e) {
        data = null;
      }
      if (resp.ok) return { ok: true, status: resp.status, data };
      const error = (data && data.error) || text.trim() || resp.statusText || "HTTP " + resp.status;
      return { ok: false, status: resp.status, data, error, code: (data && data.code) || "" };
    } catch (e) {
      const error = ctl.signal.aborted
        ? "no answer within " + timeoutMs / 1000 + "s"
        : "API unreachable (" + (e && e.message ? e.message : e) + ")";
      return { ok: false, status: 0, data: null, error, code: "unreachable" };
    } finally {
      clearTimeout(timer);
    }
  }

  // --- identity ----------------------------------------------------------

  async function loadWhoami() {
    const gen = state.gen;
    state.whoamiPending = true;
    const r = await api("GET", "/v1/whoami", undefined, WHOAMI_TIMEOUT_MS);
    if (gen !== state.gen) return;
    state.whoamiPending = false;
    if (r.status === 401) {
      signOut("The token was refused: " + r.error);
      return;
    }
    if (r.ok && r.data) {
      state.identity = r.data.identity || "?";
      state.role = r.data.role || null;
    } else {
      state.identity = null;
      state.role = null;
      // Retried after the next good status poll when no answer came.
      state.whoamiRetry = r.status === 0 || r.status >= 500;
    }
    renderWho();
    updateMoveControls();
  }

  function renderWho() {
    setText($("identity"), state.identity || (state.token ? "identity unknown" : ""));
    const role = $("role");
    setText(role, state.role || "?");
    role.className = "role-badge" + (state.role ? " role-" + state.role : "");
    role.title = state.role === "read" ? "read-only: this token cannot move groups" : "";
    $("signout").hidden = !state.token;
    $("identity").hidden = !state.token;
    role.hidden = !state.token;
  }

  // --- status polling ----------------------------------------------------

  async function poll() {
    const gen = state.gen;
    const r = await api("GET", "/v1/status", undefined, STATUS_TIMEOUT_MS);
    if (gen !== state.gen) return;
    if (r.status === 401) {
      signOut("The token was refused: " + r.error);
      return;
    }
    if (r.ok && r.data) {
      state.lastOK = new Date();
      state.last = r.data;
      $("error-banner").hidden = true;
      document.body.classList.remove("offline");
      render(r.data);
      if (state.whoamiRetry && !state.whoamiPending) {
        state.whoamiRetry = false;
        loadWhoami();
      }
    } else {
      const since = state.lastOK ? " Showing the view of " + fmtClock(state.lastOK) + "." : "";
      const what = r.status ? "The raftha API answered " + r.status + ": " : "Cannot reach the raftha API: ";
      setText($("error-banner"), what + r.error + "." + since);
      $("error-banner").hidden = false;
      document.body.classList.add("offline");
    }
    state.timer = setTimeout(poll, POLL_MS);
  }

  // --- rendering ---------------------------------------------------------

  function render(st) {
    setText($("leader"), st.leader || "none");
    setText($("term"), st.term);
    setText($("index"), st.index);
    setText($("answered-by"), st.answered_by);
    setText($("updated"), fmtClock(state.lastOK));
    $("stale-banner").hidden = !st.stale;
    setText($("stale-reason"), st.stale ? "view of " + st.answered_by + ", not confirmed by a leader: " + (st.stale_reason || "no reason given") : "");
    renderMembers(st.members || []);
    renderGroups(st.groups || []);
    renderEvents(st.events || []);
  }

  function pill(value, kind) {
    const v = value || "unknown";
    return el("span", "pill " + kind + "-" + v.replace(/[^a-z0-9_-]/gi, ""), v);
  }

  function renderMembers(members) {
    ops.renderMembers(members, $("members").tBodies[0]);
  }

  function td(child, cls) {
    const c = el("td", cls);
    c.append(child);
    return c;
  }

  function groupRow(name) {
    let r = state.rows.get(name);
    if (r) return r;
    r = { tr: el("tr") };
    r.tr.dataset.group = name;
    r.name = el("td", "name", name);
    r.owner = el("td", "owner");
    r.epoch = el("td", "epoch num");
    r.state = el("td", "state");
    r.nodes = el("td", "nodes");
    r.resources = el("td", "resources");
    r.reason = el("td", "reason");
    r.suspended = el("td", "suspended");
    r.move = el("td", "move");
    r.select = el("select", "move-to");
    r.select.setAttribute("aria-label", "move " + name + " to");
    r.button = el("button", "move", "Move");
    r.button.type = "button";
    r.button.addEventListener("click", () => move(name, r.select.value));
    r.result = el("div", "move-result");
    const ctl = el("div", "move-ctl");
    ctl.append(r.select, r.button);
    r.move.append(ctl, r.result);
    r.tr.append(r.name, r.owner, r.epoch, r.state, r.nodes, r.resources, r.reason, r.suspended, r.move);
    // Below the row, the group's sections (r.detail, one div each): its
    // history (ops.js). The row shows while one of them is not hidden
    // (syncDetail); add a group's other sections here.
    r.detailTr = el("tr", "group-detail");
    r.detailTr.dataset.groupDetail = name;
    r.detail = el("td");
    r.detail.colSpan = $("groups").tHead.rows[0].cells.length;
    r.detailTr.append(r.detail);
    ops.groupControls(name, r);
    syncDetail(r);
    r.candidates = null;
    state.rows.set(name, r);
    return r;
  }

  // syncDetail shows group row r's detail row while one of its sections
  // is shown.
  function syncDetail(r) {
    r.detailTr.hidden = ![...r.detail.children].some((c) => !c.hidden);
  }

  function renderGroups(groups) {
    const body = $("groups").tBodies[0];
    const seen = new Set();
    const order = [];
    for (const g of groups) {
      seen.add(g.name);
      const r = groupRow(g.name);
      r.group = g;
      setText(r.owner, g.owner || "none");
      setText(r.epoch, g.epoch);
      const s = pill(g.state, "gstate");
      const extra = [];
      if (g.target) extra.push("→ " + g.target);
      if (g.fence_node) extra.push("fencing " + g.fence_node);
      if (g.start_retries_done && (g.state === "starting" || g.state === "failed")) extra.push("start retry " + g.start_retries_done + "/" + (g.start_retries || 0));
      if (g.next_retry) extra.push("auto-retry at " + new Date(g.next_retry).toLocaleTimeString());
      if (g.since && !g.since.startsWith("0001-")) extra.push("for " + fmtAge(new Date(g.since)));
      r.state.replaceChildren(s, el("span", "sub", extra.join(" · ")));
      r.state.dataset.state = g.state || "";
      setText(r.nodes, (g.nodes || []).join(", "));
      r.resources.replaceChildren(...(g.resources || []).map((x) => el("div", null, x)));
      const why = [g.reason || ""];
      if (g.failed_on && g.failed_on.length) why.push("failed on " + g.failed_on.join(", "));
      setText(r.reason, why.filter(Boolean).join("; "));
      setText(r.suspended, g.suspended ? "yes" : "no");
      r.suspended.classList.toggle("warn", !!g.suspended);
      // "move to…" lists the group's nodes other than its owner. The list
      // is rebuilt only when it changes, so a choice survives the polls.
      const cands = (g.nodes || []).filter((n) => n !== g.owner);
      const key = cands.join("\u0000");
      if (r.candidates !== key) {
        const keep = r.select.value;
        const opts = [el("option", null, "move to…")];
        opts[0].value = "";
        for (const n of cands) {
          const o = el("option", null, n);
          o.value = n;
          opts.push(o);
        }
        r.select.replaceChildren(...opts);
        r.select.value = cands.includes(keep) ? keep : "";
        r.candidates = key;
      }
      ops.renderGroup(r, g);
      renderMove(g.name);
      order.push(r.tr, ...resourceRows(r, g), r.detailTr);
    }
    for (const name of [...state.rows.keys()]) {
      if (!seen.has(name)) state.rows.delete(name);
    }
    // Re-append only when the order changed, so focus stays on a select.
    const cur = [...body.children];
    if (cur.length !== order.length || cur.some((tr, i) => tr !== order[i])) body.replaceChildren(...order);
    $("groups-empty").hidden = groups.length > 0;
    updateMoveControls();
  }

  // resourceRows returns the row under group g's row (r) that lists its
  // resources as the owner reported them (g.resource_status): state, last
  // check, failures in a row, restarts, start and stop durations, last
  // error. No rows when the owner has not reported.
  function resourceRows(r, g) {
    const list = g.resource_status || [];
    if (!list.length) return [];
    if (!r.resTr) {
      r.resTr = el("tr", "resrow");
      r.resTr.dataset.groupResources = g.name;
      r.resCell = el("td", "resstatus");
      r.resTr.append(r.resCell);
    }
    r.resCell.colSpan = r.tr.children.length;
    const head = el("tr");
    for (const h of ["resource", "state", "last check", "fails", "restarts", "start", "stop", "last error"]) head.append(el("th", null, h));
    const rows = list.map((x) => {
      const tr = el("tr");
      tr.dataset.resource = x.name;
      const check = x.last_check ? x.last_check_result + " " + fmtClock(new Date(x.last_check)) : "–";
      const err = el("td", "rerr", x.last_error || "–");
      if (x.last_error_at) err.title = "at " + x.last_error_at;
      tr.append(
        el("td", "rname", x.name + " (" + x.type + ") on " + x.node),
        td(pill(x.state, "rstate"), "rstate"),
        el("td", "rcheck", check),
        el("td", "rfails num", x.consecutive_failures || 0),
        el("td", "rrestarts num", x.restarts || 0),
        el("td", "rstart num", x.last_start || "–"),
        el("td", "rstop num", x.last_stop || "–"),
        err,
      );
      return tr;
    });
    const t = el("table", "restable");
    const thead = el("thead");
    thead.append(head);
    const body = el("tbody");
    body.append(...rows);
    t.append(thead, body);
    r.resCell.replaceChildren(t);
    return [r.resTr];
  }

  function renderMove(name) {
    const r = state.rows.get(name);
    if (!r) return;
    const m = state.moves.get(name);
    r.result.className = "move-result" + (m ? " " + m.phase : "");
    r.result.textContent = m ? m.text : "";
  }

  function updateMoveControls() {
    for (const [name, r] of state.rows) {
      const moving = state.moves.get(name) && state.moves.get(name).phase === "moving";
      const read = state.role === "read";
      r.button.disabled = read || moving || r.candidates === "";
      r.select.disabled = read || moving;
      r.button.textContent = moving ? "Moving…" : "Move";
      r.button.title = read
        ? (state.identity || "this token") + " has role read: moving a group needs role operate"
        : "";
      ops.updateGroupControls(name, r, moving);
    }
    ops.updateMemberControls();
  }

  function renderEvents(events) {
    const body = $("events").tBodies[0];
    const rows = [];
    for (let i = events.length - 1; i >= 0; i--) rows.push(eventRow(events[i], true));
    body.replaceChildren(...rows);
  }

  // eventRow is one event as a table row: time, #, kind, group (when
  // withGroup), node, epoch, detail, by.
  function eventRow(e, withGroup) {
    const tr = el("tr");
    tr.dataset.seq = e.seq;
    const at = new Date(e.at);
    const t = el("td", "num time", fmtWhen(at));
    t.title = e.at;
    const detail = [];
    if (e.from || e.to) detail.push((e.from || "–") + " → " + (e.to || "–"));
    if (e.cause) detail.push(e.cause);
    if (e.reason) detail.push(e.reason);
    tr.append(t, el("td", "num dim", e.seq), el("td", "kind kind-" + (e.kind || "").replace(/[^a-z0-9_-]/gi, ""), e.kind));
    if (withGroup) tr.append(el("td", null, e.group || ""));
    tr.append(
      el("td", null, e.node || ""),
      el("td", "num", e.epoch || ""),
      el("td", "detail", detail.join(" · ")),
      el("td", "by", e.by || ""),
    );
    return tr;
  }

  // --- moving a group ----------------------------------------------------

  // move asks the cluster to move group name to node to, shows the
  // progress and the outcome in the group's row, and answers the API
  // result ({ok, status, data, error, code}).
  async function move(name, to) {
    if (!to) {
      state.moves.set(name, { phase: "error", text: "choose a node to move to" });
      renderMove(name);
      return { ok: false, status: 0, error: "no node chosen", code: "invalid" };
    }
    const gen = state.gen;
    state.moves.set(name, { phase: "moving", text: "moving " + name + " to " + to + "…" });
    renderMove(name);
    updateMoveControls();
    const r = await api("POST", "/v1/groups/" + encodeURIComponent(name) + "/transfer", { to, timeout: MOVE_TIMEOUT }, MOVE_CLIENT_TIMEOUT_MS);
    if (gen !== state.gen) return r;
    if (r.ok && r.data) {
      state.moves.set(name, { phase: "ok", text: "✓ moved to " + r.data.owner + " · epoch " + r.data.epoch });
    } else {
      const head = r.status ? r.status + (r.code ? " " + r.code : "") + ": " : "";
      state.moves.set(name, { phase: "error", text: "✗ " + head + r.error });
    }
    const row = state.rows.get(name);
    if (row) row.select.value = "";
    renderMove(name);
    updateMoveControls();
    if (r.status === 401) signOut("The token was refused: " + r.error);
    return r;
  }

  // --- formatting --------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  function fmtClock(d) {
    if (!d) return "";
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fmtWhen(d) {
    if (isNaN(d)) return "";
    const now = new Date();
    const day = d.toDateString() === now.toDateString() ? "" : d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " ";
    return day + fmtClock(d);
  }

  function fmtMS(ms) {
    if (ms === undefined || ms === null) return "–";
    if (ms < 1000) return ms + " ms";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + " s";
    return Math.floor(s / 60) + "m " + Math.floor(s % 60) + "s";
  }

  function fmtAge(d) {
    const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d";
  }

  // --- start -------------------------------------------------------------

  function start() {
    state.gen++;
    clearTimeout(state.timer);
    state.token = sessionStorage.getItem(TOKEN_KEY);
    state.identity = null;
    state.role = null;
    state.whoamiRetry = false;
    state.lastOK = null;
    state.last = null;
    state.moves.clear();
    ops.reset();
    renderWho();
    $("stale-banner").hidden = true;
    $("error-banner").hidden = true;
    document.body.classList.remove("offline");
    $("cluster").hidden = !state.token;
    if (!state.token) {
      $("main").hidden = true;
      $("login").hidden = false;
      $("token-input").focus();
      return;
    }
    $("login").hidden = true;
    $("login-msg").hidden = true;
    $("main").hidden = false;
    loadWhoami();
    poll();
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    $("token-input").value = "";
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    start();
  });
  $("signout").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => {
    takeFragmentToken();
    start();
  });

  const ops = window.rafthaOps({ api, el, state, setText, pill, fmtWhen, fmtMS, eventRow, renderMove, updateMoveControls, syncDetail, signOut });

  // For tests and the browser console: the same code paths the page uses.
  window.rafthaUI = {
    move,
    act: ops.act, // act(group, "suspend" | "resume" | "stop" | "start")
    standby: ops.setStandby, // standby(member, true | false)
    toggleHistory: ops.toggleHistory,
    status: () => state.last,
    whoami: () => ({ identity: state.identity, role: state.role }),
  };

  takeFragmentToken();
  start();
})();
