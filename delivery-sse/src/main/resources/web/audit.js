/* tokenpipe audit page: find sessions through GET /v1/sessions and replay one at its original pace
 * (GET …/events?pace=original), showing each token's Kafka position. Every search and replay made
 * here is recorded in the access trail under the key's name. No framework; server text only ever
 * goes through textContent. */
"use strict";

(() => {
  // The same key store as the chat page (#key=… once, then localStorage); an audit or admin key.
  const KEY_STORE = "tokenpipe.apiKey";
  let apiKey = null;
  try { apiKey = localStorage.getItem(KEY_STORE); } catch { /* storage disabled */ }
  if (location.hash.startsWith("#key=")) {
    apiKey = decodeURIComponent(location.hash.slice(5));
    try { localStorage.setItem(KEY_STORE, apiKey); } catch { /* ignore */ }
    history.replaceState(null, "", location.pathname + location.search);
  }
  const auth = () => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {});

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  };
  const ui = {
    form: $("search"), from: $("from"), to: $("to"), metadata: $("metadata"), model: $("model"), status: $("status"),
    notice: $("notice"), table: $("sessions"), rows: document.querySelector("#sessions tbody"), more: $("more"),
    replay: $("replay"), replaySession: $("replay-session"), pace: $("pace"), again: $("replay-again"),
    state: $("replay-state"), clock: $("replay-clock"), turns: $("turns"),
  };

  function notice(msg) { ui.notice.textContent = msg || ""; ui.notice.hidden = !msg; }

  async function errorOf(res) {
    try { const b = await res.json(); return `${res.status} ${b.error.code}: ${b.error.message}`; } catch { return `HTTP ${res.status}`; }
  }

  // ---- find --------------------------------------------------------------
  let query = null;
  let cursor = null;

  function searchParams() {
    const p = new URLSearchParams();
    const iso = (v) => new Date(v).toISOString();
    if (ui.from.value) p.set("from", iso(ui.from.value));
    if (ui.to.value) p.set("to", iso(ui.to.value));
    const md = ui.metadata.value.trim();
    if (md) {
      const eq = md.indexOf("=");
      if (eq <= 0) throw new Error("metadata filter is key=value");
      p.set(`metadata.${md.slice(0, eq).trim()}`, md.slice(eq + 1).trim());
    }
    if (ui.model.value.trim()) p.set("model", ui.model.value.trim());
    if (ui.status.value) p.set("status", ui.status.value);
    p.set("limit", "20");
    return p;
  }

  async function find(fresh) {
    notice("");
    if (fresh) {
      try { query = searchParams(); } catch (e) { notice(e.message); return; }
      cursor = null;
      ui.rows.replaceChildren();
    }
    const p = new URLSearchParams(query);
    if (cursor) p.set("cursor", cursor);
    const res = await fetch(`/v1/sessions?${p}`, { headers: auth(), cache: "no-store" });
    if (!res.ok) { notice(await errorOf(res)); return; }
    const page = await res.json();
    for (const s of page.sessions) ui.rows.append(row(s));
    cursor = page.next_cursor || null;
    ui.table.hidden = false;
    ui.more.hidden = !cursor;
    if (fresh && !page.sessions.length && !cursor) notice("No session matches.");
  }

  function row(s) {
    const tr = el("tr");
    tr.dataset.sessionId = s.session_id;
    tr.append(el("td", null, new Date(s.created_at).toLocaleString()));
    const id = el("td"); id.append(el("code", null, s.session_id)); tr.append(id);
    tr.append(el("td", null, s.turns.map((t) => `${t.status}${t.model ? ` (${t.model})` : ""}`).join(", ") || "none"));
    tr.append(el("td", null, Object.entries(s.metadata || {}).map(([k, v]) => `${k}=${v}`).join(" ")));
    const act = el("td");
    const b = el("button", "secondary replay-button", "Replay");
    b.type = "button";
    b.addEventListener("click", () => replay(s.session_id));
    act.append(b);
    tr.append(act);
    return tr;
  }

  // ---- replay -------------------------------------------------------------
  let current = null;  // {sessionId, abort}
  const turns = new Map();

  function setState(state) { ui.state.dataset.state = state; ui.state.textContent = state; }

  async function replay(sessionId) {
    if (current) current.abort.abort();
    const abort = new AbortController();
    current = { sessionId, abort };
    turns.clear();
    ui.turns.replaceChildren();
    ui.clock.textContent = "";
    ui.replaySession.textContent = sessionId;
    ui.replay.hidden = false;
    setState("replaying");
    const pace = ui.pace.value;
    const q = pace ? `pace=${encodeURIComponent(pace)}` : "follow=false";
    let res;
    try {
      res = await fetch(`/v1/sessions/${encodeURIComponent(sessionId)}/events?${q}`,
        { headers: { ...auth(), Accept: "text/event-stream" }, cache: "no-store", signal: abort.signal });
    } catch (e) { if (!abort.signal.aborted) { setState("failed"); notice(String(e)); } return; }
    if (!res.ok) { setState("failed"); notice(await errorOf(res)); return; }
    // fetch rather than EventSource: an API key goes in a header, never in a URL.
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (e) { if (abort.signal.aborted) return; setState("failed"); notice(String(e)); return; }
    if (current && current.abort === abort) setState("done");
  }

  function dispatch(block) {
    let id = null; let type = "message"; const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const c = line.indexOf(":");
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
      if (field === "id") id = value; else if (field === "event") type = value; else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let d;
    try { d = JSON.parse(data.join("\n")); } catch { return; }
    if (type === "pace") { onPace(d); return; }
    const handler = HANDLERS[type];
    if (handler) handler(d, id);
  }

  let lastPace = null;
  function onPace(m) {
    lastPace = m;
    ui.clock.textContent = `+${(m.original_ms / 1000).toFixed(3)} s originally` + (m.capped ? ` (a ${(m.gap_ms / 1000).toFixed(1)} s pause shortened)` : "");
  }

  function turnView(d) {
    let t = turns.get(d.turn_id);
    if (!t) {
      const box = el("article", "audit-turn");
      box.dataset.turnId = d.turn_id;
      t = { box, prompt: el("p", "audit-prompt"), answer: el("p", "audit-answer"), meta: el("p", "audit-meta"),
        workers: [], promptRef: null, tokens: [], model: null, finish: null, offsetsEl: null };
      box.append(t.prompt, t.answer, t.meta);
      ui.turns.append(box);
      turns.set(d.turn_id, t);
    }
    return t;
  }

  function addWorker(t, w) { if (w && t.workers[t.workers.length - 1] !== w) t.workers.push(w); }

  // Provenance as on the chat page: who wrote the answer, where the prompt lies, each token's offset.
  function renderMeta(t) {
    const bits = [];
    if (t.model) bits.push(el("span", "model", t.model === "synthetic" ? "synthetic generator — not an LLM" : t.model));
    if (t.workers.length) {
      const p = t.promptRef;
      const prov = el("span", "provenance", `worker ${t.workers.join(" → ")}` + (p ? ` · prompt ${p.topic}/${p.partition}@${p.offset}` : ""));
      prov.title = "Click for each token's Kafka position";
      prov.tabIndex = 0;
      prov.setAttribute("role", "button");
      prov.addEventListener("click", () => toggleOffsets(t));
      bits.push(prov);
    }
    if (t.finish) bits.push(el("span", "finish", t.finish));
    t.meta.replaceChildren(...bits);
  }

  function toggleOffsets(t) {
    if (t.offsetsEl) { t.offsetsEl.remove(); t.offsetsEl = null; return; }
    t.offsetsEl = el("ol", "token-offsets");
    t.tokens.forEach((tok) => t.offsetsEl.append(offsetItem(t, tok)));
    t.box.append(t.offsetsEl);
  }

  function offsetItem(t, tok) {
    const where = t.promptRef ? `partition ${t.promptRef.partition} ` : "";
    return el("li", null, `${where}offset ${tok.id}: ${JSON.stringify(tok.text)}`);
  }

  const HANDLERS = {
    "turn.started": (d) => {
      const t = turnView(d);
      const msgs = Array.isArray(d.messages) ? d.messages : [];
      t.prompt.textContent = msgs.map((m) => `${m.role}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`).join("\n");
      t.model = d.model || null;
      addWorker(t, d.worker_id);
      t.promptRef = d.prompt || null;
      renderMeta(t);
    },
    token: (d, id) => {
      const t = turnView(d);
      const span = el("span", "tok", d.text);
      span.dataset.offset = id;
      span.title = `offset ${id}` + (t.promptRef ? `, partition ${t.promptRef.partition}` : "")
        + (lastPace ? `, +${lastPace.original_ms} ms originally` : "");
      t.answer.append(span);
      const tok = { id, text: d.text };
      t.tokens.push(tok);
      if (t.offsetsEl) t.offsetsEl.append(offsetItem(t, tok));
    },
    "turn.resumed": (d) => {
      const t = turnView(d);
      addWorker(t, d.worker_id);
      if (d.restart) { t.answer.replaceChildren(); t.tokens = []; }
      renderMeta(t);
    },
    "turn.completed": (d) => { const t = turnView(d); t.finish = d.finish_reason || "stop"; renderMeta(t); },
    "turn.failed": (d) => { const t = turnView(d); t.finish = `failed: ${d.error ? d.error.code : "?"}`; renderMeta(t); },
  };

  ui.form.addEventListener("submit", (e) => { e.preventDefault(); find(true); });
  ui.more.addEventListener("click", () => find(false));
  ui.again.addEventListener("click", () => { if (current) replay(current.sessionId); });
  if (!apiKey) notice("No API key: open this page as /audit.html#key=<a key with the audit scope>.");
  else find(true);

  // For tests and curious humans.
  window.tokenpipeAudit = {
    tokens: (turnId) => (turns.get(turnId) || { tokens: [] }).tokens.map((t) => ({ ...t })),
    state: () => ui.state.dataset.state,
  };
})();
