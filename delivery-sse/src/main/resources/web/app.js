/* tokenpipe web client: send a prompt, watch the answer stream in over SSE,
 * and survive dropped connections without losing or doubling text.
 * No framework, no build step. All server text goes through textContent. */
"use strict";

(() => {
  // ---- configuration ---------------------------------------------------
  // /web-config.js may be missing or broken; empty bases mean "same origin".
  const cfg = (typeof window.TOKENPIPE_CONFIG === "object" && window.TOKENPIPE_CONFIG) || {};
  const base = (u) => (typeof u === "string" ? u.trim().replace(/\/+$/, "") : "");
  const INGEST = base(cfg.ingestUrl);
  const STREAM = base(cfg.streamUrl);
  // Server-returned paths are relative to the service that owns them; absolute URLs pass through.
  const rel = (root, path) => (root && path.startsWith("/") && !path.startsWith("//") ? root + path : path);
  const streamPath = (p) => rel(STREAM, p);
  const ingestPath = (p) => rel(INGEST, p);

  // ---- credentials ---------------------------------------------------------
  // An API key arrives once in the address (#key=…, printed by ./tokenpipe run); it is kept in this
  // browser's localStorage and removed from the address at once. A fragment never reaches a server.
  // The event stream uses the session's read token instead (EventSource cannot send headers).
  const KEY_STORE = "tokenpipe.apiKey";
  let apiKey = null;
  try { apiKey = localStorage.getItem(KEY_STORE); } catch { /* storage disabled: key lives in memory */ }
  // Takes a key from the address if there is one (at load, or when a #key= link is opened in this tab).
  function takeKeyFromAddress() {
    if (!location.hash.startsWith("#key=")) return false;
    apiKey = decodeURIComponent(location.hash.slice(5));
    try { localStorage.setItem(KEY_STORE, apiKey); } catch { /* ignore */ }
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }
  takeKeyFromAddress();
  const authHeaders = () => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {});
  const withToken = (url, token) => (token ? `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}` : url);

  const POST_RETRIES = 3;          // extra attempts after the first, same Idempotency-Key
  const POST_TIMEOUT_MS = 15000;   // a hung POST counts as a network error (and is retried)
  const MAX_BACKOFF_MS = 10000;

  // ---- DOM -------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const ui = {
    messages: $("messages"), form: $("composer"), prompt: $("prompt"), send: $("send"),
    conn: $("connection"), newChat: $("new-chat"), transcript: $("transcript"), notice: $("notice"),
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // ---- state -----------------------------------------------------------
  let session = null;        // {id, eventsUrl, turnsUrl, transcriptUrl}
  let generation = 0;        // bumped on every session switch; async work from an older one is dropped
  let booting = Promise.resolve();
  let es = null;             // the current EventSource; events from any other one are ignored
  let lastSeenId = -1;       // largest SSE id applied in this session
  let eventCount = 0;        // events applied (after de-duplication) in this session
  let duplicates = 0;
  let retryTimer = null;
  let retryAttempt = 0;
  let noticeTimer = null;
  const turns = new Map();   // turn_id -> view
  const pending = new Map(); // client_request_id -> view whose turn.started has not arrived yet

  // ---- small helpers ---------------------------------------------------
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const backoff = (attempt, first = 1000) =>
    Math.min(MAX_BACKOFF_MS, first * 2 ** attempt) * (0.85 + Math.random() * 0.3); // jitter spreads a herd after a restart
  const fmtMs = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

  function newUuid() {
    if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts (https / localhost)
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function showNotice(msg) {
    clearTimeout(noticeTimer);
    ui.notice.textContent = msg || "";
    ui.notice.hidden = !msg;
    if (msg) noticeTimer = setTimeout(() => showNotice(""), 10000);
  }

  const CONN_TEXT = { live: "live", reconnecting: "reconnecting…", offline: "offline" };
  function setConn(state, label, detail) {
    ui.conn.dataset.state = state;
    ui.conn.textContent = label || CONN_TEXT[state];
    ui.conn.title = detail || "";
  }

  // Keep the newest text in view, but don't yank the view if the reader scrolled up.
  function keepScrolled(fn) {
    const m = ui.messages;
    const stick = m.scrollHeight - m.scrollTop - m.clientHeight < 80;
    const out = fn();
    if (stick) m.scrollTop = m.scrollHeight;
    return out;
  }

  // ---- HTTP ------------------------------------------------------------
  async function apiError(res) {
    let msg = `Request failed (HTTP ${res.status})`;
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) msg = body.error.message;
    } catch { /* non-JSON error body (e.g. a proxy page): keep the generic message */ }
    if (res.status === 401) msg = `Not authorised (${msg}). Open the address ./tokenpipe run printed (…/#key=…), or ask for an API key.`;
    return Object.assign(new Error(msg), { status: res.status, retryable: res.status >= 500 });
  }

  // POST JSON. Network errors and 503 are retried with the same headers (so the same
  // Idempotency-Key: the server never starts a second turn); other errors are final.
  // `settled()` lets the caller stop retrying once the answer is known some other way.
  async function postJson(url, body, headers = {}, settled = () => false) {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && settled()) return null;
      let res;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...authHeaders(), ...headers },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout ? AbortSignal.timeout(POST_TIMEOUT_MS) : undefined,
        });
      } catch {
        if (attempt < POST_RETRIES) { await sleep(backoff(attempt, 500)); continue; }
        throw Object.assign(new Error("Could not reach the server."), { retryable: true });
      }
      if (res.ok) return res.json();
      const err = await apiError(res);
      if (res.status === 503 && attempt < POST_RETRIES) { await sleep(backoff(attempt, 500)); continue; }
      throw err;
    }
  }

  // ---- rendering -------------------------------------------------------
  function addUserBubble(text, before) {
    const b = el("div", "user-message");
    b.append(el("p", "bubble-text", text));
    if (before) before.before(b); else ui.messages.append(b);
    return b;
  }

  function addAnswer() {
    const answer = el("article", "answer");
    answer.dataset.state = "streaming";
    answer.dataset.events = "0";
    answer.setAttribute("aria-busy", "true"); // screen readers read it once, when done
    const badges = el("div", "answer-badges");
    const textEl = el("div", "answer-text");
    const textNode = document.createTextNode(""); // appendData avoids re-setting the whole text per token
    textEl.append(textNode);
    const meta = el("div", "answer-meta");
    answer.append(badges, textEl, meta);
    ui.messages.append(answer);
    const t = {
      answer, badges, textNode, meta, state: "streaming", events: 0, turnId: null, crid: null,
      userEl: null, prompt: null, model: null, len: 0, resumes: 0, resumeReason: null,
      tPost: null, tFirst: null, tDone: null, finish: null, usage: null,
      error: null, retryable: false, postFailed: false, stopping: false,
      workers: [], promptRef: null, // provenance: who wrote the answer, where the prompt lies in Kafka
    };
    renderMeta(t);
    return t;
  }

  function setState(t, state) {
    t.state = state;
    t.answer.dataset.state = state;
    t.answer.setAttribute("aria-busy", String(state === "streaming"));
    renderMeta(t);
  }

  // The footer is rebuilt on state changes only (not per token), so it stays cheap.
  function renderMeta(t) {
    const bits = [];
    const add = (text, cls) => { const s = el("span", cls, text); bits.push(s); return s; };
    if (t.state === "streaming") {
      add(t.stopping ? "stopping…" : t.tFirst != null ? "streaming…" : t.turnId ? "waiting for first token…" : "sending…", "status");
      if (t.turnId && !t.stopping) {
        const b = el("button", "stop secondary", "Stop");
        b.type = "button";
        b.title = "Stop generating this answer (the text so far stays)";
        b.addEventListener("click", () => cancelTurn(t));
        bits.push(b);
      }
    }
    if (t.resumes) {
      const why = t.resumeReason === "worker_takeover" ? "another worker took over"
        : t.resumeReason === "upstream_retry" ? "the model call was retried" : "generation restarted";
      add(`↻ resumed${t.resumes > 1 ? ` ×${t.resumes}` : ""}`, "resumed").title =
        `Generation resumed (${why}); text already shown is kept.`;
    }
    if (t.state === "done") {
      add(t.finish || "done", `finish finish-${t.finish || "stop"}`);
      const n = t.usage && t.usage.completion_tokens;
      if (n != null) add(`${n} token${n === 1 ? "" : "s"}`, "tokens");
      if (t.tPost != null) { // only for prompts sent from this page: replayed turns have no client clock
        if (t.tFirst != null) add(`first token ${fmtMs(t.tFirst - t.tPost)}`, "ttft");
        add(`total ${fmtMs(t.tDone - t.tPost)}`, "elapsed");
      }
    }
    if (t.workers.length) {
      const p = t.promptRef;
      add(`worker ${t.workers.join(" → ")}`, "provenance").title = p
        ? `Written by ${t.workers.join(", then ")}; prompt at ${p.topic} partition ${p.partition} offset ${p.offset}. The transcript has every event's position.`
        : `Written by ${t.workers.join(", then ")}.`;
    }
    if (t.state === "failed") {
      add(t.error || "failed", "error");
      if (t.retryable && !t.turnId) {
        const b = el("button", "retry secondary", "Retry");
        b.type = "button";
        // Same Idempotency-Key: if the lost POST did reach the server, this cannot start a second turn.
        b.addEventListener("click", () => { t.error = null; t.postFailed = false; setState(t, "streaming"); postTurn(t); });
        bits.push(b);
      }
    }
    t.meta.replaceChildren(...bits);
  }

  // The workers that wrote the answer, in order (another one appears when it took the turn over).
  function addWorker(t, worker) {
    if (worker && t.workers[t.workers.length - 1] !== worker) t.workers.push(worker);
  }

  function setModel(t, model) {
    if (!model || model === t.model) return;
    t.model = model;
    // The default "synthetic" generator emits deterministic filler text; say so plainly.
    t.badges.replaceChildren(model === "synthetic"
      ? el("span", "badge badge-synthetic", "synthetic generator — not an LLM")
      : el("span", "badge", model));
  }

  function bindTurn(t, turnId) {
    if (!turnId || t.turnId) return;
    t.turnId = turnId;
    t.answer.dataset.turnId = turnId;
    turns.set(turnId, t);
    if (t.state === "streaming") renderMeta(t);
  }

  // Find the view for an event's turn, creating one if this is the first we hear of it.
  function viewFor(d) {
    let t = turns.get(d.turn_id) || (d.client_request_id && pending.get(d.client_request_id));
    if (!t) t = addAnswer();
    bindTurn(t, d.turn_id);
    return t;
  }

  // ---- SSE event handlers (each returns the view it touched) -------------
  function onStarted(d) {
    const t = viewFor(d);
    if (d.client_request_id) pending.delete(d.client_request_id);
    if (!t.userEl) { // a replayed turn, or one sent from another tab: show its prompt
      const msgs = Array.isArray(d.messages) ? d.messages : [];
      const user = [...msgs].reverse().find((m) => m && m.role === "user");
      if (user) t.userEl = addUserBubble(typeof user.content === "string" ? user.content : JSON.stringify(user.content), t.answer);
    }
    if (t.state === "failed" && t.postFailed) { // our POST looked lost, but the server had it after all
      t.postFailed = false;
      t.error = null;
      setState(t, "streaming");
    }
    setModel(t, d.model);
    addWorker(t, d.worker_id);
    t.promptRef = d.prompt || null;
    renderMeta(t);
    return t;
  }

  function onToken(d) {
    const t = viewFor(d);
    if (typeof d.text === "string" && d.text) {
      t.textNode.appendData(d.text);
      t.len += d.text.length;
    }
    if (t.tFirst == null) { t.tFirst = performance.now(); renderMeta(t); }
    return t;
  }

  function onResumed(d) {
    const t = viewFor(d);
    t.resumes += 1;
    t.resumeReason = d.reason || null;
    addWorker(t, d.worker_id);
    // Shown text should equal what the server says it published; a mismatch is a bug worth seeing.
    const pub = d.published_text;
    const expected = typeof pub === "string" ? pub.length : typeof pub === "number" ? pub : null;
    if (expected != null && expected !== t.len) {
      console.warn(`tokenpipe: turn ${d.turn_id} shows ${t.len} chars, server published ${expected}`);
    }
    renderMeta(t);
    return t;
  }

  function onCompleted(d) {
    const t = viewFor(d);
    t.finish = d.finish_reason || null;
    t.usage = d.usage || null;
    t.tDone = performance.now();
    setState(t, "done");
    return t;
  }

  function onFailed(d) {
    const t = viewFor(d);
    t.error = (d.error && d.error.message) || "Generation failed.";
    t.retryable = false; // the turn exists; re-sending the same key would not run it again
    setState(t, "failed");
    return t;
  }

  const HANDLERS = {
    "turn.started": onStarted, token: onToken, "turn.resumed": onResumed,
    "turn.completed": onCompleted, "turn.failed": onFailed,
  };

  function onSseEvent(source, e) {
    if (source !== es) return; // a superseded connection still draining
    const id = Number(e.lastEventId);
    // Ids are strictly increasing per session; anything at or below the last applied one is a
    // replay (e.g. the server honoured an older cursor after a reconnect), so drop it.
    if (e.lastEventId === "" || !Number.isFinite(id) || id <= lastSeenId) { duplicates++; return; }
    lastSeenId = id;
    if (ui.conn.dataset.state !== "live") setConn("live");
    let data;
    try { data = JSON.parse(e.data); } catch { console.warn("tokenpipe: bad event data", e.data); return; }
    const handler = HANDLERS[e.type] || (data && HANDLERS[data.type]);
    if (!handler) return;
    eventCount++;
    try {
      keepScrolled(() => {
        const t = handler(data);
        if (t) t.answer.dataset.events = String(++t.events);
      });
    } catch (err) {
      console.error("tokenpipe: could not apply event", id, err);
    }
  }

  // ---- the event stream --------------------------------------------------
  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (es) es.close();
    es = null;
    if (!session) return;
    const source = new EventSource(withToken(streamUrl(), session.readToken));
    es = source;
    setConn("reconnecting", lastSeenId >= 0 || retryAttempt ? CONN_TEXT.reconnecting : "connecting…");
    source.onopen = () => {
      if (source !== es) return;
      retryAttempt = 0;
      setConn("live");
    };
    source.onerror = () => {
      if (source !== es) return;
      // CONNECTING: the browser retries by itself and sends Last-Event-ID. CLOSED: it gave up
      // (server ended the stream, a 503, a 404...), so we take over with our own back-off.
      if (source.readyState === EventSource.CLOSED) scheduleReconnect();
      else setConn(navigator.onLine === false ? "offline" : "reconnecting");
    };
    for (const type of [...Object.keys(HANDLERS), "message"]) {
      source.addEventListener(type, (e) => onSseEvent(source, e));
    }
  }

  // Fresh sessions start from the first event; afterwards resume right after the last one applied.
  function streamUrl() {
    const url = session.eventsUrl;
    return lastSeenId < 0 ? url : `${url}${url.includes("?") ? "&" : "?"}last_event_id=${encodeURIComponent(lastSeenId)}`;
  }

  // EventSource reports every refusal as a bare error; a 410 must not be retried for ever. Ask for the
  // status ourselves and hang up as soon as it arrives.
  async function streamStatus(url) {
    const abort = new AbortController();
    try {
      const res = await fetch(url, { headers: { Accept: "text/event-stream" }, cache: "no-store", signal: abort.signal });
      return res.status;
    } catch {
      return 0;
    } finally {
      abort.abort();
    }
  }

  function scheduleReconnect() {
    if (es) es.close();
    es = null;
    const delay = backoff(retryAttempt++);
    const offline = navigator.onLine === false;
    setConn(offline ? "offline" : "reconnecting", null, `retrying in ${Math.round(delay / 1000)} s`);
    const gen = generation;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(async () => {
      // EventSource cannot report its status: the read token may have expired (401), the session
      // be gone (404) or its history expired (410). A fresh token answers the first two.
      const fresh = await readToken(session && session.id);
      if (gen !== generation) return;
      if (fresh.gone) { showNotice("That chat no longer exists; started a new one."); switchTo(createSession); return; }
      if (fresh.token) setReadToken(fresh.token);
      if (await streamStatus(withToken(streamUrl(), session.readToken)) === 410) {
        if (gen === generation) {
          setConn("offline", "history expired", "the server no longer keeps this chat's earlier events");
          showNotice("This chat's history has expired on the server: it can no longer be shown in full. Start a new chat.");
        }
        return;
      }
      if (gen === generation) connect();
    }, delay);
  }

  // A new read token for a session: {token}, {gone: true} on 404, or {} when it cannot be had now.
  async function readToken(id) {
    if (!id) return {};
    try {
      const res = await fetch(ingestPath(`/v1/sessions/${encodeURIComponent(id)}/read-tokens`),
        { method: "POST", headers: authHeaders(), cache: "no-store" });
      if (res.status === 404) return { gone: true };
      if (!res.ok) { if (res.status === 401) showNotice((await apiError(res)).message); return {}; }
      return { token: (await res.json()).read_token };
    } catch { return {}; }
  }

  function setReadToken(token) {
    session.readToken = token;
    ui.transcript.href = withToken(session.transcriptUrl, token);
  }

  function reconnectNow() {
    if (session && (!es || es.readyState === EventSource.CLOSED)) { retryAttempt = 0; connect(); }
  }

  // ---- sessions ----------------------------------------------------------
  function adoptSession(id, urls = {}, token = null) {
    generation++;
    const enc = encodeURIComponent(id);
    session = {
      id,
      eventsUrl: streamPath(urls.events_url || `/v1/sessions/${enc}/events`),
      turnsUrl: ingestPath(urls.turns_url || `/v1/sessions/${enc}/turns`),
      transcriptUrl: streamPath(urls.transcript_url || `/v1/sessions/${enc}/transcript`),
      readToken: null,
    };
    lastSeenId = -1; eventCount = 0; duplicates = 0; retryAttempt = 0;
    turns.clear(); pending.clear();
    ui.messages.replaceChildren();
    document.body.dataset.sessionId = id;
    setReadToken(token);
    ui.transcript.hidden = false;
    connect();
  }

  function dropSession() {
    generation++;
    if (es) es.close();
    es = null;
    clearTimeout(retryTimer);
    session = null;
    delete document.body.dataset.sessionId;
  }

  // Only one session switch runs at a time; send() waits for it.
  function switchTo(fn, ...args) {
    booting = fn(...args).catch((err) => {
      setConn("offline", null, err.message);
      showNotice(`Could not start a chat: ${err.message}`);
    });
    return booting;
  }

  async function createSession(pushHistory = false) {
    dropSession();
    const gen = generation;
    setConn("reconnecting", "connecting…");
    const res = await postJson(ingestPath("/v1/sessions"), { metadata: { client: "web" } });
    if (gen !== generation) return;
    adoptSession(res.session_id, res, res.read_token);
    // pushState lets Back return to the previous chat; neither call fires hashchange.
    history[pushHistory ? "pushState" : "replaceState"](null, "", `#${res.session_id}`);
  }

  async function openSession(id) {
    dropSession();
    const gen = generation;
    setConn("reconnecting", "connecting…");
    // A read token first; it also tells a deleted session (EventSource would only report an error).
    const fresh = await readToken(id);
    if (gen !== generation) return;
    if (fresh.gone) {
      showNotice("That chat no longer exists; started a new one.");
      return createSession(false);
    }
    adoptSession(id, {}, fresh.token || null);
  }

  function sessionFromHash() {
    const id = decodeURIComponent(location.hash.slice(1));
    return /^s_[\w.-]+$/.test(id) ? id : null;
  }

  function onHashChange() {
    if (takeKeyFromAddress()) { switchTo(createSession, false); return; } // a new key: a new chat with it
    const id = sessionFromHash();
    if (id && (!session || session.id !== id)) switchTo(openSession, id);
  }

  // ---- sending -------------------------------------------------------------
  async function send() {
    const text = ui.prompt.value.trim();
    if (!text) return;
    if (!session) await booting;
    if (!session) await switchTo(createSession, false); // the first attempt failed; try once more
    if (!session) { showNotice("Not connected to a chat yet; try again in a moment."); return; }
    ui.prompt.value = "";
    autosize();
    const userEl = addUserBubble(text);
    const t = addAnswer();
    t.userEl = userEl;
    ui.messages.scrollTop = ui.messages.scrollHeight; // always show what you just sent
    t.prompt = text;
    t.crid = newUuid(); // the Idempotency-Key, echoed back as client_request_id
    pending.set(t.crid, t);
    postTurn(t);
  }

  async function postTurn(t) {
    const gen = generation;
    t.tPost = performance.now();
    t.tFirst = null;
    try {
      // Stop retrying once turn.started has arrived: the server evidently has the prompt.
      const res = await postJson(session.turnsUrl, { prompt: t.prompt }, { "Idempotency-Key": t.crid },
        () => t.turnId != null || gen !== generation);
      if (!res || gen !== generation) return;
      if (res.client_request_id && res.client_request_id !== t.crid) pending.set(res.client_request_id, t);
      bindTurn(t, res.turn_id); // turn.started may have beaten the 202; bindTurn is a no-op then
    } catch (err) {
      if (gen !== generation || t.turnId) return;
      t.error = err.message;
      t.retryable = !!err.retryable;
      t.postFailed = true;
      setState(t, "failed");
    }
  }

  // Cancelling is its own request (closing the stream is not a cancel). The turn then ends with
  // turn.completed, finish_reason "cancelled", which arrives on the stream like any other end.
  async function cancelTurn(t) {
    if (!t.turnId || t.state !== "streaming" || !session) return;
    t.stopping = true;
    renderMeta(t);
    const url = ingestPath(`/v1/sessions/${encodeURIComponent(session.id)}/turns/${encodeURIComponent(t.turnId)}/cancel`);
    try {
      await postJson(url, {});
    } catch (err) {
      if (err.status === 409) return; // it ended on its own meanwhile: its end event is on the way
      t.stopping = false;
      if (t.state === "streaming") renderMeta(t);
      showNotice(`Could not stop the answer: ${err.message}`);
    }
  }

  // ---- composer --------------------------------------------------------------
  function autosize() {
    const p = ui.prompt;
    p.style.height = "auto";
    const full = p.scrollHeight + (p.offsetHeight - p.clientHeight); // border-box: add the borders back
    p.style.height = `${Math.min(full, 200)}px`;
    p.style.overflowY = full > 200 ? "auto" : "hidden"; // no scrollbar until it stops growing
  }

  ui.prompt.addEventListener("input", autosize);
  ui.prompt.addEventListener("keydown", (e) => {
    // isComposing / 229: Enter that confirms an IME composition must not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  ui.form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  ui.newChat.addEventListener("click", () => { switchTo(createSession, true); ui.prompt.focus(); });

  window.addEventListener("hashchange", onHashChange);
  window.addEventListener("popstate", onHashChange);
  window.addEventListener("offline", () => setConn("offline"));
  window.addEventListener("online", reconnectNow);
  // Mobile browsers drop background connections; come back at once when visible again.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) reconnectNow(); });
  // A page kept in the back/forward cache would hold its stream open on the server: close it when
  // the page is hidden that way, and resume after the last event when it comes back.
  window.addEventListener("pagehide", (e) => {
    if (e.persisted && es) { es.close(); es = null; clearTimeout(retryTimer); }
  });
  window.addEventListener("pageshow", (e) => { if (e.persisted) reconnectNow(); });

  // Hooks for tests and curious people.
  window.tokenpipe = Object.freeze({
    lastEventId: () => (lastSeenId >= 0 ? lastSeenId : null),
    sessionId: () => (session ? session.id : null),
    eventCount: () => eventCount,
    duplicatesIgnored: () => duplicates,
    connection: () => ui.conn.dataset.state,
  });

  // ---- start -------------------------------------------------------------
  const initial = sessionFromHash();
  if (initial) switchTo(openSession, initial); else switchTo(createSession, false);
  autosize();
  ui.prompt.focus();
})();
