// raftha dashboard, operations: the group actions (suspend, resume, stop,
// start), each group's history, and the members' health with standby and
// unstandby. Loaded before app.js, which calls window.rafthaOps(ctx) with
// its helpers and state. Every action is the API's own endpoint, with the
// same bearer token: the server checks the role (operate) as for any
// client; the page only disables what a read token cannot do.
"use strict";

window.rafthaOps = function (ctx) {
  const { api, el, state, setText, pill, fmtWhen, fmtMS, eventRow } = ctx;
  const ACTION_TIMEOUT_MS = 40000; // the server bounds suspend, resume and standby at 30s
  const STOP_TIMEOUT_MS = 135000; // the server waits up to 2 min for a group to stop
  const ARM_MS = 5000; // a disruptive action's confirming click must come within this
  const HISTORY_TIMEOUT_MS = 6000;
  const HISTORY_ROWS = 25;

  // The group actions and their endpoints (POST /v1/groups/{name}/PATH).
  // "start" is the API's resume: a stopped group is a suspended offline one.
  const GROUP_ACTIONS = {
    suspend: { label: "Suspend", path: "suspend", doing: "suspending", done: "suspended",
      title: "pause monitoring and automatic actions (maintenance); planned moves still work" },
    resume: { label: "Resume", path: "resume", doing: "resuming", done: "resumed",
      title: "resume monitoring and automatic actions; forgets the nodes where it failed" },
    stop: { label: "Stop", path: "stop", doing: "stopping", done: "stopped", confirm: true, timeoutMs: STOP_TIMEOUT_MS,
      title: "stop it on its owner and keep it stopped (suspends it)" },
    start: { label: "Start", path: "resume", doing: "starting", done: "resumed: the leader places it",
      title: "start a stopped group: resumes it, the leader places it" },
  };

  const armed = new Map(); // "group:NAME" or "member:ID" -> {action, timer}
  const history = new Map(); // group name -> {open, pending, index, events, error}
  const memberRows = new Map(); // member id -> row elements
  const memberActs = new Map(); // member id -> {phase, text}

  function fmtErr(r) {
    return (r.status ? r.status + (r.code ? " " + r.code : "") + ": " : "") + r.error;
  }

  function readOnly() {
    return state.role === "read";
  }

  function roleTitle(what) {
    return (state.identity || "this token") + " has role read: " + what + " needs role operate";
  }

  // arm reports whether a click on a confirm action may go on: the first
  // click arms it for ARM_MS, the second one within that time confirms.
  function arm(key, action, refresh) {
    const a = armed.get(key);
    if (a && a.action === action) {
      clearTimeout(a.timer);
      armed.delete(key);
      return true;
    }
    if (a) clearTimeout(a.timer);
    armed.set(key, { action, timer: setTimeout(() => { armed.delete(key); refresh(); }, ARM_MS) });
    refresh();
    return false;
  }

  function isArmed(key, action) {
    const a = armed.get(key);
    return !!a && a.action === action;
  }

  // --- group actions -----------------------------------------------------

  function button(cls, label, onClick) {
    const b = el("button", "act " + cls, label);
    b.type = "button";
    b.dataset.action = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  // groupControls adds the action buttons and the history section to a
  // new group row r (app.js groupRow).
  function groupControls(name, r) {
    r.acts = {};
    const box = el("div", "act-ctl");
    for (const action of Object.keys(GROUP_ACTIONS)) {
      r.acts[action] = button(action, GROUP_ACTIONS[action].label, () => {
        if (GROUP_ACTIONS[action].confirm && !arm("group:" + name, action, ctx.updateMoveControls)) return;
        act(name, action);
      });
      box.append(r.acts[action]);
    }
    r.historyButton = button("history", "History", () => toggleHistory(name));
    r.historyButton.setAttribute("aria-expanded", "false");
    box.append(r.historyButton);
    r.move.insertBefore(box, r.result);
    r.history = el("div", "history");
    r.history.hidden = true;
    r.detail.append(r.history);
  }

  // groupButtons shows the actions that apply to group g in row r: a
  // stopped group (suspended and offline) can only be started.
  function groupButtons(r, g) {
    const stopped = !!g.suspended && g.state === "offline";
    r.acts.suspend.hidden = !!g.suspended;
    r.acts.resume.hidden = !g.suspended || stopped;
    r.acts.stop.hidden = stopped;
    r.acts.start.hidden = !stopped;
  }

  // updateGroupControls enables or disables row r's actions: off for a
  // read token (saying why) and while an action of the group is under way.
  function updateGroupControls(name, r, busy) {
    for (const [action, b] of Object.entries(r.acts)) {
      const a = GROUP_ACTIONS[action];
      const confirming = isArmed("group:" + name, action);
      b.disabled = readOnly() || !!busy;
      b.classList.toggle("armed", confirming);
      setText(b, confirming ? "Confirm " + action + "?" : a.label);
      b.title = readOnly() ? roleTitle(action + " " + name) : confirming ? "click again to " + action + " " + name : a.title;
    }
  }

  // act runs a group action and shows its progress and outcome in the
  // group's row; it answers the API result ({ok, status, data, error, code}).
  async function act(name, action) {
    const a = GROUP_ACTIONS[action];
    if (!a) return { ok: false, status: 0, error: "no action " + action, code: "invalid" };
    const gen = state.gen;
    state.moves.set(name, { phase: "moving", text: a.doing + " " + name + "…" });
    ctx.renderMove(name);
    ctx.updateMoveControls();
    const r = await api("POST", "/v1/groups/" + encodeURIComponent(name) + "/" + a.path, undefined, a.timeoutMs || ACTION_TIMEOUT_MS);
    if (gen !== state.gen) return r;
    if (r.ok) {
      const detail = r.data && r.data.state ? " · " + r.data.state + (r.data.owner ? " on " + r.data.owner : "") : "";
      state.moves.set(name, { phase: "ok", text: "✓ " + name + " " + a.done + detail });
    } else {
      state.moves.set(name, { phase: "error", text: "✗ " + action + " " + name + ": " + fmtErr(r) });
    }
    ctx.renderMove(name);
    ctx.updateMoveControls();
    if (r.status === 401) ctx.signOut("The token was refused: " + r.error);
    return r;
  }

  // --- group history -----------------------------------------------------

  function toggleHistory(name) {
    const h = history.get(name) || { open: false };
    h.open = !h.open;
    history.set(name, h);
    const r = state.rows.get(name);
    if (r) {
      r.history.hidden = !h.open;
      r.historyButton.setAttribute("aria-expanded", String(h.open));
      r.historyButton.classList.toggle("open", h.open);
      ctx.syncDetail(r);
    }
    if (h.open) loadHistory(name, true);
  }

  // loadHistory reads the group's events (GET /v1/events?group=NAME) when
  // its history is open and the log moved since the last read.
  async function loadHistory(name, force) {
    const h = history.get(name);
    const idx = state.last ? state.last.index : 0;
    if (!h || !h.open || h.pending || (!force && h.index === idx)) return;
    const gen = state.gen;
    h.pending = true;
    const r = await api("GET", "/v1/events?group=" + encodeURIComponent(name), undefined, HISTORY_TIMEOUT_MS);
    h.pending = false;
    if (gen !== state.gen) return;
    if (r.ok) {
      h.events = r.data || [];
      h.error = "";
      h.index = idx;
    } else {
      h.error = fmtErr(r);
    }
    renderHistory(name);
  }

  function renderHistory(name) {
    const h = history.get(name);
    const r = state.rows.get(name);
    if (!h || !r) return;
    const events = h.events || [];
    const shown = events.slice(-HISTORY_ROWS).reverse();
    const head = el("div", "history-head");
    head.append(el("strong", null, "History of " + name), el("span", "hint",
      events.length ? "last " + shown.length + " of " + events.length + " events, newest first" : h.events ? "no events" : "loading…"));
    const parts = [head];
    if (h.error) parts.push(el("div", "history-error", "✗ " + h.error));
    if (shown.length) {
      const table = el("table", "grid events history-events");
      const hr = el("tr");
      for (const c of ["time", "#", "kind", "node", "epoch", "detail", "by"]) hr.append(el("th", null, c));
      const thead = el("thead");
      thead.append(hr);
      const body = el("tbody");
      body.append(...shown.map((e) => eventRow(e, false)));
      table.append(thead, body);
      parts.push(table);
    }
    r.history.replaceChildren(...parts);
  }

  // renderGroup updates row r's actions for group g and refreshes its
  // history when open.
  function renderGroup(r, g) {
    groupButtons(r, g);
    loadHistory(g.name, false);
  }

  // --- members -----------------------------------------------------------

  function memberRow(id) {
    let r = memberRows.get(id);
    if (r) return r;
    r = { tr: el("tr") };
    r.tr.dataset.member = id;
    r.id = el("td", "id", id);
    r.role = el("td", "mrole");
    r.state = el("td", "mstate");
    r.healthy = el("td", "healthy");
    r.contact = el("td", "num contact");
    r.voter = el("td", "voter");
    r.standby = el("td", "standby");
    r.address = el("td", "dim address");
    r.action = el("td", "member-act");
    r.button = button("standby", "Standby", () => {
      const on = !(r.m && r.m.standby);
      if (on && !arm("member:" + id, "standby", updateMemberControls)) return;
      setStandby(id, on);
    });
    r.result = el("div", "move-result");
    r.action.append(r.button, r.result);
    r.tr.append(r.id, r.role, r.state, r.healthy, r.contact, r.voter, r.standby, r.address, r.action);
    memberRows.set(id, r);
    return r;
  }

  // renderMembers shows each member's health: its Raft state, whether the
  // leader reaches it and when it last heard from it, and its standby mark.
  function renderMembers(members, body) {
    const seen = new Set();
    const order = [];
    for (const m of members) {
      seen.add(m.id);
      const r = memberRow(m.id);
      r.m = m;
      const known = m.state && m.state !== "unknown";
      setText(r.role, m.role);
      if (r.stateValue !== m.state) {
        r.state.replaceChildren(pill(m.state, "mstate"));
        r.stateValue = m.state;
      }
      // A stale view has no leader's health data: state "unknown".
      r.healthy.className = "healthy" + (known ? (m.healthy ? " yes" : " no") : " dim");
      setText(r.healthy, known ? (m.healthy ? "yes" : "no") : "–");
      setText(r.contact, m.state === "leader" || !known ? "–" : fmtMS(m.last_contact_ms));
      setText(r.voter, m.voter ? "yes" : "no");
      setText(r.standby, m.standby ? "since " + fmtWhen(new Date(m.standby.since)) + (m.standby.by ? " by " + m.standby.by : "") : "no");
      r.standby.classList.toggle("warn", !!m.standby);
      setText(r.address, m.api ? m.address + "  api " + m.api : m.address);
      order.push(r.tr);
    }
    for (const id of [...memberRows.keys()]) {
      if (!seen.has(id)) memberRows.delete(id);
    }
    const cur = [...body.children];
    if (cur.length !== order.length || cur.some((tr, i) => tr !== order[i])) body.replaceChildren(...order);
    updateMemberControls();
  }

  function updateMemberControls() {
    for (const [id, r] of memberRows) {
      const m = r.m || {};
      const act = memberActs.get(id);
      const busy = !!act && act.phase === "moving";
      const on = !m.standby;
      const what = on ? "standby" : "unstandby";
      const confirming = on && isArmed("member:" + id, "standby");
      // A witness owns no group: the API refuses standby for it.
      r.button.hidden = m.role !== "node";
      r.button.disabled = readOnly() || busy;
      r.button.dataset.action = what;
      r.button.className = "act " + what + (confirming ? " armed" : "");
      setText(r.button, confirming ? "Confirm standby?" : on ? "Standby" : "Unstandby");
      r.button.title = readOnly()
        ? roleTitle(what + " " + id)
        : confirming
          ? "click again: " + id + " keeps voting, its groups move away, nothing new is placed on it"
          : on ? "maintenance: " + id + " keeps voting, its groups move away by planned moves" : id + " may own groups again (nothing moves back by itself)";
      r.result.className = "move-result" + (act ? " " + act.phase : "");
      r.result.textContent = act ? act.text : "";
    }
  }

  // setStandby puts member id on standby (on) or takes it off, and shows
  // the outcome in its row; it answers the API result.
  async function setStandby(id, on) {
    const what = on ? "standby" : "unstandby";
    const gen = state.gen;
    memberActs.set(id, { phase: "moving", text: (on ? "putting " + id + " on standby" : "taking " + id + " off standby") + "…" });
    updateMemberControls();
    const r = await api("POST", "/v1/members/" + encodeURIComponent(id) + "/" + what, undefined, ACTION_TIMEOUT_MS);
    if (gen !== state.gen) return r;
    if (r.ok && r.data) {
      const moving = r.data.moving && r.data.moving.length ? " · moving " + r.data.moving.join(", ") : "";
      memberActs.set(id, { phase: "ok", text: "✓ " + id + (r.data.standby ? " on standby" + moving : " off standby") });
    } else {
      memberActs.set(id, { phase: "error", text: "✗ " + what + " " + id + ": " + fmtErr(r) });
    }
    updateMemberControls();
    if (r.status === 401) ctx.signOut("The token was refused: " + r.error);
    return r;
  }

  // reset forgets the per-session state (a new token).
  function reset() {
    for (const a of armed.values()) clearTimeout(a.timer);
    armed.clear();
    for (const [name, h] of history) {
      const r = state.rows.get(name);
      if (h.open && r) toggleHistory(name);
    }
    history.clear();
    memberActs.clear();
    memberRows.clear();
  }

  return { groupControls, renderGroup, updateGroupControls, renderMembers, updateMemberControls, act, setStandby, toggleHistory, reset };
};
