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
  // The page follows one chat, or several at once (#s_a,s_b,…). Each open chat is a `chat` object:
  // {id, eventsUrl, turnsUrl, transcriptUrl, readToken, el, lastSeenId, eventCount, duplicates,
  //  turns, pending, es, retryTimer, retryAttempt, state}.
  // Transport: one chat streams over SSE (EventSource); several share one WebSocket (/v1/ws), since a
  // browser opens at most six HTTP/1.1 connections per origin and a seventh EventSource would hang.
  // ?transport=ws or ?transport=sse forces one of them.
  let chats = [];            // open chats, in panel order
  let active = null;         // the chat the composer sends to
  let generation = 0;        // bumped on every switch of chats; async work from an older one is dropped
  let booting = Promise.resolve();
  let noticeTimer = null;
  const FORCED = new URLSearchParams(location.search).get("transport");
  const useSocket = () => (FORCED === "ws" || FORCED === "sse" ? FORCED === "ws" : chats.length > 1);
  let sock = null;           // the WebSocket while the chats use one; frames from any other are ignored
  let sockTimer = null;
  let sockAttempt = 0;

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
  function keepScrolled(c, fn) {
    const m = c.el; // the whole list with one chat, the chat's own panel with several
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
  function addUserBubble(c, text, before) {
    const b = el("div", "user-message");
    b.append(el("p", "bubble-text", text));
    if (before) before.before(b); else c.el.append(b);
    return b;
  }

  function addAnswer(c) {
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
    c.el.append(answer);
    const t = {
      chat: c, answer, badges, textNode, meta, state: "streaming", events: 0, turnId: null, crid: null,
      userEl: null, prompt: null, model: null, len: 0, resumes: 0, resumeReason: null,
      tPost: null, tFirst: null, tDone: null, finish: null, usage: null,
      error: null, retryable: false, postFailed: false, stopping: false,
      workers: [], promptRef: null, // provenance: who wrote the answer, where the prompt lies in Kafka
      tokenIds: [], offsetsEl: null, // each token's SSE id (its stream offset), listed on demand
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
      const prov = add(`worker ${t.workers.join(" → ")}`, "provenance");
      prov.title = p
        ? `Written by ${t.workers.join(", then ")}; prompt at ${p.topic} partition ${p.partition} offset ${p.offset}. Click for each token's position.`
        : `Written by ${t.workers.join(", then ")}. Click for each token's position.`;
      prov.tabIndex = 0;
      prov.setAttribute("role", "button");
      prov.addEventListener("click", () => toggleOffsets(t));
      prov.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggleOffsets(t); } });
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

  // Each token's Kafka position, on demand. A session's stream events share the partition of its
  // prompt (both topics are keyed by session id and have TOPIC_PARTITIONS partitions).
  function toggleOffsets(t) {
    if (t.offsetsEl) { t.offsetsEl.remove(); t.offsetsEl = null; return; }
    t.offsetsEl = el("ol", "token-offsets");
    t.tokenIds.forEach((tok) => addOffset(t, tok));
    t.answer.append(t.offsetsEl);
  }

  function addOffset(t, tok) {
    const where = t.promptRef ? `partition ${t.promptRef.partition} ` : "";
    t.offsetsEl.append(el("li", null, `${where}offset ${tok.id}: ${JSON.stringify(tok.text)}`));
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
    t.chat.turns.set(turnId, t);
    if (t.state === "streaming") renderMeta(t);
  }

  // Find the view for an event's turn, creating one if this is the first we hear of it.
  function viewFor(c, d) {
    let t = c.turns.get(d.turn_id) || (d.client_request_id && c.pending.get(d.client_request_id));
    if (!t) t = addAnswer(c);
    bindTurn(t, d.turn_id);
    return t;
  }

  // ---- SSE event handlers (each returns the view it touched) -------------
  function onStarted(c, d) {
    const t = viewFor(c, d);
    if (d.client_request_id) c.pending.delete(d.client_request_id);
    if (!t.userEl) { // a replayed turn, or one sent from another tab: show its prompt
      const msgs = Array.isArray(d.messages) ? d.messages : [];
      const user = [...msgs].reverse().find((m) => m && m.role === "user");
      if (user) t.userEl = addUserBubble(c, typeof user.content === "string" ? user.content : JSON.stringify(user.content), t.answer);
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

  function onToken(c, d) {
    const t = viewFor(c, d);
    if (typeof d.text === "string" && d.text) {
      t.textNode.appendData(d.text);
      t.len += d.text.length;
    }
    if (t.tFirst == null) { t.tFirst = performance.now(); renderMeta(t); }
    return t;
  }

  function onResumed(c, d) {
    const t = viewFor(c, d);
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

  function onCompleted(c, d) {
    const t = viewFor(c, d);
    t.finish = d.finish_reason || null;
    t.usage = d.usage || null;
    t.tDone = performance.now();
    setState(t, "done");
    return t;
  }

  function onFailed(c, d) {
    const t = viewFor(c, d);
    t.error = (d.error && d.error.message) || "Generation failed.";
    t.retryable = false; // the turn exists; re-sending the same key would not run it again
    setState(t, "failed");
    return t;
  }

  const HANDLERS = {
    "turn.started": onStarted, token: onToken, "turn.resumed": onResumed,
    "turn.completed": onCompleted, "turn.failed": onFailed,
  };

  // Applies one event of a chat, whichever transport brought it. Ids are strictly increasing per
  // session; anything at or below the last applied one is a replay (e.g. the server honoured an older
  // cursor after a reconnect), so it is dropped.
  function applyEvent(c, idText, type, data) {
    const id = Number(idText);
    if (idText === "" || idText == null || !Number.isFinite(id) || id <= c.lastSeenId) { c.duplicates++; return; }
    c.lastSeenId = id;
    const handler = HANDLERS[type] || (data && HANDLERS[data.type]);
    if (!handler) return;
    c.eventCount++;
    try {
      keepScrolled(c, () => {
        const t = handler(c, data);
        if (t) t.answer.dataset.events = String(++t.events);
        if (t && data.type === "token") {
          const tok = { id, text: data.text };
          t.tokenIds.push(tok);
          if (t.offsetsEl) addOffset(t, tok);
        }
      });
    } catch (err) {
      console.error("tokenpipe: could not apply event", id, err);
    }
  }

  function onSseEvent(c, source, e) {
    if (source !== c.es) return; // a superseded connection still draining
    if (ui.conn.dataset.state !== "live") setConn("live");
    let data;
    try { data = JSON.parse(e.data); } catch { console.warn("tokenpipe: bad event data", e.data); return; }
    applyEvent(c, e.lastEventId, e.type, data);
  }

  // ---- one chat over SSE -----------------------------------------------------
  function connect(c) {
    clearTimeout(c.retryTimer);
    c.retryTimer = null;
    if (c.es) c.es.close();
    c.es = null;
    if (!chats.includes(c)) return;
    const source = new EventSource(withToken(streamUrl(c), c.readToken));
    c.es = source;
    setChatState(c, "reconnecting");
    setConn("reconnecting", c.lastSeenId >= 0 || c.retryAttempt ? CONN_TEXT.reconnecting : "connecting…");
    source.onopen = () => {
      if (source !== c.es) return;
      c.retryAttempt = 0;
      setChatState(c, "live");
      setConn("live");
    };
    source.onerror = () => {
      if (source !== c.es) return;
      // CONNECTING: the browser retries by itself and sends Last-Event-ID. CLOSED: it gave up
      // (server ended the stream, a 503, a 404...), so we take over with our own back-off.
      if (source.readyState === EventSource.CLOSED) scheduleReconnect(c);
      else { setChatState(c, "reconnecting"); setConn(navigator.onLine === false ? "offline" : "reconnecting"); }
    };
    for (const type of [...Object.keys(HANDLERS), "message"]) {
      source.addEventListener(type, (e) => onSseEvent(c, source, e));
    }
  }

  // Fresh sessions start from the first event; afterwards resume right after the last one applied.
  function streamUrl(c) {
    const url = c.eventsUrl;
    return c.lastSeenId < 0 ? url : `${url}${url.includes("?") ? "&" : "?"}last_event_id=${encodeURIComponent(c.lastSeenId)}`;
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

  function scheduleReconnect(c) {
    if (c.es) c.es.close();
    c.es = null;
    const delay = backoff(c.retryAttempt++);
    const offline = navigator.onLine === false;
    setChatState(c, "reconnecting");
    setConn(offline ? "offline" : "reconnecting", null, `retrying in ${Math.round(delay / 1000)} s`);
    const gen = generation;
    clearTimeout(c.retryTimer);
    c.retryTimer = setTimeout(async () => {
      // EventSource cannot report its status: the read token may have expired (401), the session
      // be gone (404) or its history expired (410). A fresh token answers the first two.
      const fresh = await readToken(c.id);
      if (gen !== generation) return;
      if (fresh.gone) { chatGone(c); return; }
      if (fresh.token) setReadToken(c, fresh.token);
      if (await streamStatus(withToken(streamUrl(c), c.readToken)) === 410) {
        if (gen === generation) historyExpired(c);
        return;
      }
      if (gen === generation) connect(c);
    }, delay);
  }

  function chatGone(c) {
    if (chats.length === 1) { showNotice("That chat no longer exists; started a new one."); switchTo(createSession); return; }
    setChatState(c, "gone");
    showNotice(`Chat ${c.id} no longer exists.`);
  }

  function historyExpired(c) {
    setChatState(c, "expired");
    setConn("offline", "history expired", "the server no longer keeps this chat's earlier events");
    showNotice("This chat's history has expired on the server: it can no longer be shown in full. Start a new chat.");
  }

  // ---- several chats over one WebSocket ----------------------------------------
  // Protocol: docs/events.md, "WebSocket". A browser cannot send headers on a WebSocket, so the
  // socket opens with one chat's read token in its URL and every subscribe carries its own chat's.
  // After a drop each chat resubscribes from its own last event id: no gap, no duplicate.
  function socketUrl() {
    const origin = STREAM || location.origin;
    const url = `${origin.replace(/^http/, "ws")}/v1/ws`;
    const first = chats.find((c) => c.readToken);
    return withToken(url, first ? first.readToken : null);
  }

  function openSocket() {
    clearTimeout(sockTimer);
    sockTimer = null;
    if (sock) sock.close();
    sock = null;
    if (!chats.length) return;
    let ws;
    try { ws = new WebSocket(socketUrl()); } catch (err) { scheduleSocket(); return; }
    sock = ws;
    let opened = false;
    setConn("reconnecting", sockAttempt || chats.some((c) => c.lastSeenId >= 0) ? CONN_TEXT.reconnecting : "connecting…");
    ws.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      sockAttempt = 0;
      chats.forEach((c) => { if (c.state !== "gone" && c.state !== "expired") subscribe(c); });
    };
    ws.onmessage = (e) => { if (ws === sock) onFrame(e.data); };
    ws.onclose = (e) => {
      if (ws !== sock) return;
      sock = null;
      chats.forEach((c) => { if (c.state === "live") setChatState(c, "reconnecting"); });
      // 1012: the node is draining; come back at once. A socket refused before it opened may be an
      // expired read token (a browser only reports 1006): fresh tokens before the next try.
      scheduleSocket(e.code === 1012 ? 0 : null, !opened);
    };
  }

  function scheduleSocket(delay = null, refreshTokens = false) {
    const wait = delay != null ? delay : backoff(sockAttempt++);
    setConn(navigator.onLine === false ? "offline" : "reconnecting", null, `retrying in ${Math.round(wait / 1000)} s`);
    const gen = generation;
    clearTimeout(sockTimer);
    sockTimer = setTimeout(async () => {
      if (refreshTokens) await Promise.all(chats.map(refreshToken));
      if (gen === generation) openSocket();
    }, wait);
  }

  async function refreshToken(c) {
    const fresh = await readToken(c.id);
    if (fresh.token && chats.includes(c)) setReadToken(c, fresh.token);
    return fresh;
  }

  function sendFrame(frame) {
    if (sock && sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify(frame));
  }

  function subscribe(c) {
    const frame = { type: "subscribe", session_id: c.id };
    if (c.lastSeenId >= 0) frame.last_event_id = String(c.lastSeenId);
    if (c.readToken) frame.access_token = c.readToken;
    sendFrame(frame);
  }

  function onFrame(text) {
    let f;
    try { f = JSON.parse(text); } catch { console.warn("tokenpipe: bad frame", text); return; }
    const c = chats.find((x) => x.id === f.session_id);
    if (!c) return;
    if (f.type === "event") { applyEvent(c, f.id, f.event, f.data); return; }
    if (f.op !== "subscribe") return;
    if (f.type === "ack") {
      setChatState(c, "live");
      if (!chats.some((x) => x.state === "connecting" || x.state === "reconnecting")) setConn("live");
      return;
    }
    if (f.type === "error") onSubscribeError(c, f.error || {});
  }

  // A refused subscribe: what an SSE request's status would have said, per chat.
  async function onSubscribeError(c, error) {
    const gen = generation;
    if (error.status === 409) return; // already followed on this socket
    if (error.status === 410) { historyExpired(c); return; }
    if (error.status === 404) { chatGone(c); return; }
    setChatState(c, "reconnecting");
    if (error.status === 401 || error.status === 403) {
      const fresh = await refreshToken(c);
      if (gen !== generation) return;
      if (fresh.gone) { chatGone(c); return; }
      if (!fresh.token) { showNotice(`Could not follow chat ${c.id}: ${error.message || "not authorised"}`); return; }
    }
    // 429 / 503 and the like: try again after a while, from the last event applied.
    setTimeout(() => { if (gen === generation && chats.includes(c) && c.state === "reconnecting") subscribe(c); },
      backoff(c.retryAttempt++));
  }

  // ---- tokens and chat state ----------------------------------------------------
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

  function setReadToken(c, token) {
    c.readToken = token;
    if (c === active) ui.transcript.href = withToken(c.transcriptUrl, token);
  }

  // A chat's own state, shown on its panel when several are open: live, reconnecting, gone, expired.
  function setChatState(c, state) {
    c.state = state;
    if (c.el !== ui.messages) c.el.dataset.state = state;
  }

  function reconnectNow() {
    if (!chats.length) return;
    if (useSocket()) {
      if (!sock || sock.readyState === WebSocket.CLOSED) { sockAttempt = 0; openSocket(); }
      return;
    }
    chats.forEach((c) => { if (!c.es || c.es.readyState === EventSource.CLOSED) { c.retryAttempt = 0; connect(c); } });
  }

  function disconnectAll() {
    clearTimeout(sockTimer);
    if (sock) sock.close();
    sock = null;
    chats.forEach((c) => { if (c.es) c.es.close(); c.es = null; clearTimeout(c.retryTimer); });
  }

  // ---- sessions ----------------------------------------------------------
  function newChat(id, urls, token) {
    const enc = encodeURIComponent(id);
    return {
      id,
      eventsUrl: streamPath(urls.events_url || `/v1/sessions/${enc}/events`),
      turnsUrl: ingestPath(urls.turns_url || `/v1/sessions/${enc}/turns`),
      transcriptUrl: streamPath(urls.transcript_url || `/v1/sessions/${enc}/transcript`),
      readToken: token, el: null, state: "connecting", lastSeenId: -1, eventCount: 0, duplicates: 0,
      turns: new Map(), pending: new Map(), es: null, retryTimer: null, retryAttempt: 0,
    };
  }

  // Shows the chats (one fills the list as it always did; several get a panel each) and starts streaming.
  function adoptChats(list) {
    generation++;
    chats = list;
    ui.messages.replaceChildren();
    ui.messages.classList.toggle("multi", list.length > 1);
    for (const c of list) {
      if (list.length === 1) { c.el = ui.messages; continue; }
      c.el = el("section", "chat");
      c.el.dataset.sessionId = c.id;
      c.el.setAttribute("aria-label", `Chat ${c.id}`);
      c.el.tabIndex = 0;
      c.el.append(el("h2", "chat-head", c.id));
      c.el.addEventListener("click", () => setActive(c));
      c.el.addEventListener("focus", () => setActive(c));
      ui.messages.append(c.el);
    }
    setActive(list[0]);
    ui.transcript.hidden = false;
    list.forEach((c) => setChatState(c, "connecting"));
    if (useSocket()) openSocket(); else list.forEach(connect);
  }

  function setActive(c) {
    active = c;
    document.body.dataset.sessionId = c.id;
    ui.transcript.href = withToken(c.transcriptUrl, c.readToken);
    chats.forEach((x) => { if (x.el !== ui.messages) x.el.classList.toggle("active", x === c); });
  }

  function dropChats() {
    generation++;
    disconnectAll();
    chats = [];
    active = null;
    delete document.body.dataset.sessionId;
  }

  // Only one switch of chats runs at a time; send() waits for it.
  function switchTo(fn, ...args) {
    booting = fn(...args).catch((err) => {
      setConn("offline", null, err.message);
      showNotice(`Could not start a chat: ${err.message}`);
    });
    return booting;
  }

  async function createSession(pushHistory = false) {
    dropChats();
    const gen = generation;
    setConn("reconnecting", "connecting…");
    const res = await postJson(ingestPath("/v1/sessions"), { metadata: { client: "web" } });
    if (gen !== generation) return;
    adoptChats([newChat(res.session_id, res, res.read_token)]);
    // pushState lets Back return to the previous chat; neither call fires hashchange.
    history[pushHistory ? "pushState" : "replaceState"](null, "", `#${res.session_id}`);
  }

  async function openSessions(ids) {
    dropChats();
    const gen = generation;
    setConn("reconnecting", "connecting…");
    // Read tokens first (before any stream holds a connection); they also tell a deleted session.
    const fresh = await Promise.all(ids.map(readToken));
    if (gen !== generation) return;
    const live = ids.filter((id, i) => !fresh[i].gone);
    if (!live.length) {
      showNotice("That chat no longer exists; started a new one.");
      return createSession(false);
    }
    if (live.length < ids.length) showNotice(`${ids.length - live.length} of the chats no longer exist.`);
    adoptChats(live.map((id) => newChat(id, {}, fresh[ids.indexOf(id)].token || null)));
  }

  // #s_a opens one chat; #s_a,s_b,… follows several in one page.
  function sessionsFromHash() {
    const ids = decodeURIComponent(location.hash.slice(1)).split(",").map((s) => s.trim()).filter(Boolean);
    return ids.length && ids.every((id) => /^s_[\w.-]+$/.test(id)) ? [...new Set(ids)] : null;
  }

  function onHashChange() {
    if (takeKeyFromAddress()) { switchTo(createSession, false); return; } // a new key: a new chat with it
    const ids = sessionsFromHash();
    if (ids && ids.join(",") !== chats.map((c) => c.id).join(",")) switchTo(openSessions, ids);
  }

  // ---- sending -------------------------------------------------------------
  async function send() {
    const text = ui.prompt.value.trim();
    if (!text) return;
    if (!active) await booting;
    if (!active) await switchTo(createSession, false); // the first attempt failed; try once more
    if (!active) { showNotice("Not connected to a chat yet; try again in a moment."); return; }
    const c = active;
    ui.prompt.value = "";
    autosize();
    const userEl = addUserBubble(c, text);
    const t = addAnswer(c);
    t.userEl = userEl;
    c.el.scrollTop = c.el.scrollHeight; // always show what you just sent
    t.prompt = text;
    t.crid = newUuid(); // the Idempotency-Key, echoed back as client_request_id
    c.pending.set(t.crid, t);
    postTurn(t);
  }

  async function postTurn(t) {
    const gen = generation;
    const c = t.chat;
    t.tPost = performance.now();
    t.tFirst = null;
    try {
      // Stop retrying once turn.started has arrived: the server evidently has the prompt.
      // Prompts go to ingest over HTTP with the API key, whichever transport the events take.
      const res = await postJson(c.turnsUrl, { prompt: t.prompt }, { "Idempotency-Key": t.crid },
        () => t.turnId != null || gen !== generation);
      if (!res || gen !== generation) return;
      if (res.client_request_id && res.client_request_id !== t.crid) c.pending.set(res.client_request_id, t);
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
    if (!t.turnId || t.state !== "streaming" || !chats.includes(t.chat)) return;
    t.stopping = true;
    renderMeta(t);
    const url = ingestPath(`/v1/sessions/${encodeURIComponent(t.chat.id)}/turns/${encodeURIComponent(t.turnId)}/cancel`);
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
    if (e.persisted) disconnectAll();
  });
  window.addEventListener("pageshow", (e) => { if (e.persisted) reconnectNow(); });

  // Hooks for tests and curious people.
  // The first four describe the chat prompts go to; chats() every open one.
  window.tokenpipe = Object.freeze({
    lastEventId: () => (active && active.lastSeenId >= 0 ? active.lastSeenId : null),
    sessionId: () => (active ? active.id : null),
    eventCount: () => (active ? active.eventCount : 0),
    duplicatesIgnored: () => (active ? active.duplicates : 0),
    connection: () => ui.conn.dataset.state,
    transport: () => (chats.length ? (useSocket() ? "websocket" : "sse") : null),
    chats: () => chats.map((c) => ({ sessionId: c.id, state: c.state, lastEventId: c.lastSeenId >= 0 ? c.lastSeenId : null,
      eventCount: c.eventCount, duplicatesIgnored: c.duplicates })),
  });

  // ---- start -------------------------------------------------------------
  const initial = sessionsFromHash();
  if (initial) switchTo(openSessions, initial); else switchTo(createSession, false);
  autosize();
  ui.prompt.focus();
})();
