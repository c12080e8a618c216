// chat-app web client: HTTP API (docs/openapi.yaml) for accounts, contacts, conversations and
// history; the WebSocket gateway (docs/protocol.md) for live delivery, sync, receipts, typing and
// presence; a service worker (sw.js) and the Push API for notifications while the app is closed.
// IDs are strings everywhere (JavaScript numbers lose integers above 2^53); seqs are numbers. No
// framework, no build step.
"use strict";

(() => {
  const cfg = window.CHAT_CONFIG || {};
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;               // history page size
  const RETRY_AFTER_MS = 10000;  // resend an unacknowledged send (protocol §6)
  const TYPING_EVERY_MS = 3000;  // at most one typing frame per 3 s per conversation (§8)
  const TYPING_SHOW_MS = 6000;   // show "is typing" for 6 s after the last event (§8)
  const POLL_MS = 30000;         // new conversations are announced (membership frames); polling is the fallback
  const FINAL_ERRORS = new Set(["not_member", "invalid_ref", "forbidden", "message_too_large", "invalid_frame"]);

  // ---- state ----------------------------------------------------------------------------------
  const S = {
    token: sessionStorage.getItem("chat.token") || "",
    me: JSON.parse(sessionStorage.getItem("chat.user") || "null"),
    contacts: new Map(),  // user id -> user
    users: new Map(),     // user id -> user (contacts and anyone met in a conversation)
    presence: new Map(),  // user id -> online|away|offline
    convs: new Map(),     // conversation id -> conversation state (see newConv)
    outbox: new Map(),    // client_msg_id -> {conv, body, sentAt, tries}
    open: "",             // the conversation on screen
  };

  function newConv(c) {
    return {
      id: c.id, kind: c.kind, title: c.title || "", headSeq: c.last_seq || 0,
      myRead: c.last_read_seq || 0,
      members: [],          // user ids
      receipts: new Map(),  // user id -> {delivered, read}
      lastSeq: 0,           // highest seq held contiguously (protocol §5 rule 1)
      synced: false,        // a sync cursor for it went out on the current socket
      ahead: new Map(),     // seq -> message received beyond lastSeq + 1, kept aside
      entries: new Map(),   // seq -> text message (with edits/deletes applied)
      edits: new Map(),     // ref_seq -> {body} | {deleted: true}, newest wins
      oldest: 0,            // lowest seq loaded (0: none); history scroll-back goes below it
      more: true,           // older history exists
      loadingOlder: false,
      unread: 0,
      sentDelivered: 0, sentRead: 0,
      typing: new Map(),    // user id -> timer
      lastTypingSent: 0,
    };
  }

  // ---- HTTP API -------------------------------------------------------------------------------
  // token: the session's by default; logging out passes the one it is about to forget.
  async function api(method, path, body, token = S.token) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["Authorization"] = "Bearer " + token;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && S.token && !path.startsWith("/v1/login")) {
      logout("Your session expired; please log in again.");
      throw new Error("session expired");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      const detail = (data && (data.detail || data.title)) || res.statusText;
      const err = new Error(detail);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // ---- auth -----------------------------------------------------------------------------------
  $("auth-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const mode = ev.submitter && ev.submitter.value === "signup" ? "signup" : "login";
    const body = { username: $("auth-username").value.trim(), password: $("auth-password").value };
    if (mode === "signup" && $("auth-display").value.trim()) body.display_name = $("auth-display").value.trim();
    $("auth-error").textContent = "";
    try {
      const res = await api("POST", "/v1/" + mode, body);
      S.token = res.token;
      S.me = res.user;
      sessionStorage.setItem("chat.token", S.token);
      sessionStorage.setItem("chat.user", JSON.stringify(S.me));
      start();
    } catch (e) {
      $("auth-error").textContent = (mode === "signup" ? "Sign-up failed: " : "Log-in failed: ") + e.message;
    }
  });

  // Logging out on purpose also takes this browser's notifications away from the account (the
  // next person here should not see its previews); an expired session keeps them.
  $("logout-btn").addEventListener("click", () => {
    if (S.pushKey) disablePush(S.token).catch((e) => console.warn("push off at logout", e));
    logout("");
  });

  function logout(reason) {
    S.token = "";
    S.pushKey = "";
    $("push-box").hidden = true;
    delete $("push-box").dataset.push;
    pushError("");
    S.me = null;
    sessionStorage.removeItem("chat.token");
    sessionStorage.removeItem("chat.user");
    stopSocket();
    clearInterval(S.pollTimer);
    clearInterval(S.outboxTimer);
    S.contacts.clear(); S.users.clear(); S.presence.clear(); S.convs.clear(); S.outbox.clear(); S.open = ""; S.pickerKey = "";
    $("auth-form").reset(); // no password left in the page
    $("app-view").hidden = true;
    $("auth-view").hidden = false;
    $("auth-error").textContent = reason;
  }

  async function start() {
    $("auth-view").hidden = true;
    $("app-view").hidden = false;
    S.users.set(S.me.id, S.me);
    $("me-name").textContent = S.me.display_name || S.me.username;
    try {
      await loadContacts();
      await refreshConversations();
    } catch (e) {
      if (!S.token) return;
      $("contact-error").textContent = "Could not load: " + e.message;
    }
    connect();
    S.pollTimer = setInterval(() => { refreshConversations().catch(() => {}); }, POLL_MS);
    S.outboxTimer = setInterval(retryStale, 2000);
    initPush();
    openFromHash();
  }

  // A notification's link (sw.js) is /#conversation=<id>: open that conversation, then drop the
  // hash so a reload does not open it again.
  function openFromHash() {
    const m = /^#conversation=([1-9][0-9]*)$/.exec(location.hash);
    if (!m || !S.token) return;
    history.replaceState(null, "", location.pathname + location.search);
    openWhenLoaded(m[1]);
  }
  window.addEventListener("hashchange", openFromHash);

  async function openWhenLoaded(id) {
    if (!S.convs.has(id)) await refreshConversations().catch(() => {});
    if (S.convs.has(id)) openConversation(id);
  }

  // ---- contacts and presence ------------------------------------------------------------------
  async function loadContacts() {
    const res = await api("GET", "/v1/contacts");
    for (const u of res.contacts || []) { S.contacts.set(u.id, u); S.users.set(u.id, u); }
    renderContacts();
  }

  $("add-contact-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("add-contact-input").value.trim();
    $("contact-error").textContent = "";
    try {
      const u = await api("POST", "/v1/contacts", { username: name });
      S.contacts.set(u.id, u); S.users.set(u.id, u);
      $("add-contact-input").value = "";
      renderContacts();
      // The gateway reports a contact's presence in the snapshot after ready and on changes; a
      // contact who is already online changes nothing, so take a fresh snapshot.
      refreshSocket();
    } catch (e) {
      $("contact-error").textContent = e.status === 404 ? `No user "${name}"` : e.message;
    }
  });

  function userName(id) {
    const u = S.users.get(id);
    return u ? (u.display_name || u.username) : "user " + id;
  }

  function renderContacts() {
    const ul = $("contact-list");
    ul.replaceChildren();
    const sorted = [...S.contacts.values()].sort((a, b) => a.username.localeCompare(b.username));
    for (const u of sorted) {
      const li = document.createElement("li");
      li.dataset.testid = "contact";
      li.dataset.userId = u.id;
      li.dataset.username = u.username;
      li.title = "Chat with " + u.username;
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.dataset.testid = "presence-dot";
      dot.dataset.presence = S.presence.get(u.id) || "offline";
      const name = document.createElement("span");
      name.textContent = (u.display_name || u.username) + (u.display_name && u.display_name !== u.username ? ` (@${u.username})` : "");
      li.append(dot, name);
      li.addEventListener("click", () => openDirect(u.id));
      ul.append(li);
    }
    // The group picker keeps its checkboxes across presence updates; rebuild it only when the
    // set of contacts changed.
    const key = sorted.map((u) => u.id).join(",");
    if (key === S.pickerKey) return;
    S.pickerKey = key;
    const gm = $("group-members");
    gm.replaceChildren();
    for (const u of sorted) {
      const label = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox"; cb.value = u.id; cb.dataset.testid = "group-member"; cb.dataset.username = u.username;
      label.append(cb, document.createTextNode(u.display_name || u.username));
      gm.append(label);
    }
  }

  // ---- conversations --------------------------------------------------------------------------
  async function openDirect(userId) {
    try {
      const c = await api("POST", "/v1/conversations/direct", { user_id: userId });
      await addConversation(c);
      openConversation(c.id);
    } catch (e) {
      $("contact-error").textContent = "Could not open the chat: " + e.message;
    }
  }

  $("group-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ids = [...document.querySelectorAll("#group-members input:checked")].map((cb) => cb.value);
    try {
      const c = await api("POST", "/v1/conversations/group", { title: $("group-title").value.trim(), member_ids: ids });
      $("group-title").value = "";
      $("group-box").open = false;
      await addConversation(c);
      openConversation(c.id);
    } catch (e) {
      $("contact-error").textContent = "Could not create the group: " + e.message;
    }
  });

  async function refreshConversations() {
    const res = await api("GET", "/v1/conversations");
    for (const c of res.conversations || []) {
      if (!S.convs.has(c.id)) await addConversation(c);
    }
  }

  // addConversation loads members, receipts and the newest history page, then subscribes the
  // socket with a sync cursor after the page: the gap between the page and the cursor arrives
  // through sync, so nothing falls between HTTP and WebSocket.
  async function addConversation(c) {
    if (S.convs.has(c.id)) return S.convs.get(c.id);
    const cv = newConv(c);
    S.convs.set(c.id, cv);
    try {
      const [mem, page] = await Promise.all([
        api("GET", `/v1/conversations/${c.id}/members`),
        api("GET", `/v1/conversations/${c.id}/messages?limit=${PAGE}`),
      ]);
      for (const m of mem.members || []) {
        cv.members.push(m.user_id);
        cv.receipts.set(m.user_id, { delivered: m.last_delivered_seq, read: m.last_read_seq });
      }
      const msgs = page.messages || [];           // newest first, contiguous
      if (msgs.length) {
        cv.lastSeq = msgs[0].seq;
        for (const m of msgs) applyEntry(cv, m);
        cv.oldest = msgs[msgs.length - 1].seq;
      }
      cv.more = page.next_before_seq !== undefined && page.next_before_seq !== null;
      cv.unread = [...cv.entries.values()].filter((m) => m.sender_id !== S.me.id && m.seq > cv.myRead).length;
    } catch (e) {
      S.convs.delete(c.id);
      throw e;
    }
    if (S.ws && S.ready) sendSync([cv]);
    renderConversations();
    if (S.open === c.id) renderMessages(true);
    sendDelivered(cv);
    return cv;
  }

  function convTitle(cv) {
    if (cv.kind === "group") return cv.title || "group";
    const other = cv.members.find((id) => id !== S.me.id);
    return other ? userName(other) : "direct";
  }

  function renderConversations() {
    const ul = $("conversation-list");
    ul.replaceChildren();
    const sorted = [...S.convs.values()].sort((a, b) => (b.lastActivity || 0) - (a.lastActivity || 0) || a.id.localeCompare(b.id));
    for (const cv of sorted) {
      const li = document.createElement("li");
      li.dataset.testid = "conversation";
      li.dataset.conversationId = cv.id;
      li.classList.toggle("active", cv.id === S.open);
      if (cv.kind === "direct") {
        const other = cv.members.find((id) => id !== S.me.id);
        const dot = document.createElement("span");
        dot.className = "dot";
        dot.dataset.presence = (other && S.presence.get(other)) || "offline";
        li.append(dot);
      } else {
        li.append(document.createTextNode("#"));
      }
      const name = document.createElement("span");
      name.className = "title";
      name.textContent = convTitle(cv);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.testid = "unread";
      badge.textContent = cv.unread > 0 ? String(cv.unread) : "";
      li.append(name, badge);
      li.addEventListener("click", () => openConversation(cv.id));
      ul.append(li);
    }
  }

  function openConversation(id) {
    S.open = id;
    const cv = S.convs.get(id);
    if (!cv) return;
    $("chat-title").textContent = convTitle(cv);
    $("chat-title").dataset.conversationId = id;
    $("composer").hidden = false;
    cv.unread = 0;
    renderConversations();
    renderMessages(true);
    renderTyping();
    sendRead(cv);
    $("message-input").focus();
  }

  // ---- the log: applying entries --------------------------------------------------------------
  // applyEntry puts one log entry (text, edit or delete) into the conversation's view state.
  function applyEntry(cv, m) {
    if (m.kind === "text") {
      cv.entries.set(m.seq, m);
      // A pending local echo with the same client_msg_id is now the stored message.
      if (m.sender_id === S.me.id) S.outbox.delete(m.client_msg_id);
    } else if (m.kind === "edit" || m.kind === "delete") {
      const prev = cv.edits.get(m.ref_seq);
      if (!prev || prev.seq < m.seq) cv.edits.set(m.ref_seq, { seq: m.seq, body: m.body, deleted: m.kind === "delete" });
    }
    if (!cv.oldest || m.seq < cv.oldest) cv.oldest = m.seq;
    cv.lastActivity = Math.max(cv.lastActivity || 0, Date.parse(m.created_at) || 0);
  }

  // onMessage applies protocol §5 rule 3: dedupe by (conversation, seq), apply in order, keep
  // messages beyond a gap aside and ask for the gap.
  function onMessage(f) {
    const cv = S.convs.get(f.conversation_id);
    if (!cv) { refreshConversations().catch(() => {}); return; }
    if (f.seq <= cv.lastSeq) return; // duplicate
    if (f.seq > cv.lastSeq + 1) {
      cv.ahead.set(f.seq, f);
      send({ type: "sync", conversations: [{ conversation_id: cv.id, after_seq: cv.lastSeq }] });
      return;
    }
    let m = f;
    let fromOthers = 0;
    while (m) {
      applyEntry(cv, m);
      cv.lastSeq = m.seq;
      cv.ahead.delete(m.seq);
      if (m.sender_id !== S.me.id) {
        if (m.kind === "text") fromOthers++;
        clearTyping(cv, m.sender_id);
      }
      m = cv.ahead.get(cv.lastSeq + 1);
    }
    if (fromOthers && !(S.open === cv.id && !document.hidden)) cv.unread += fromOthers;
    sendDelivered(cv);
    if (S.open === cv.id) { renderMessages(false); sendRead(cv); }
    renderConversations();
  }

  // ---- rendering messages ---------------------------------------------------------------------
  function statusOf(cv, m) {
    if (m.pending) return "sending";
    const others = cv.members.filter((id) => id !== S.me.id);
    if (!others.length) return "sent";
    const rs = others.map((id) => cv.receipts.get(id) || { delivered: 0, read: 0 });
    if (rs.every((r) => r.read >= m.seq)) return "read";
    if (rs.every((r) => r.delivered >= m.seq || r.read >= m.seq)) return "delivered";
    return "sent";
  }
  const STATUS_TEXT = { sending: "🕓", sent: "•", delivered: "✓", read: "✓✓" };

  function renderMessages(scrollToEnd) {
    const box = $("messages");
    const cv = S.convs.get(S.open);
    if (!cv) { box.replaceChildren(); return; }
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const prevHeight = box.scrollHeight, prevTop = box.scrollTop;
    const items = [...cv.entries.values()].sort((a, b) => a.seq - b.seq);
    for (const o of S.outbox.values()) {
      if (o.conv === cv.id) items.push({ pending: true, seq: Infinity, client_msg_id: o.id, sender_id: S.me.id, body: o.body, failed: o.failed });
    }
    const nodes = [];
    if (!cv.more) {
      const note = document.createElement("div");
      note.className = "history-note";
      note.dataset.testid = "history-start";
      note.textContent = "start of the conversation";
      nodes.push(note);
    }
    for (const m of items) {
      const div = document.createElement("div");
      const mine = m.sender_id === S.me.id;
      div.className = "msg" + (mine ? " mine" : "");
      div.dataset.testid = "message";
      div.dataset.clientMsgId = m.client_msg_id;
      if (!m.pending) div.dataset.seq = String(m.seq);
      if (!mine && cv.kind === "group") {
        const from = document.createElement("span");
        from.className = "from";
        from.textContent = userName(m.sender_id);
        div.append(from);
      }
      const ed = m.pending ? null : cv.edits.get(m.seq);
      const body = document.createElement("span");
      body.className = "body";
      if (ed && ed.deleted) { div.classList.add("deleted"); body.textContent = "message deleted"; }
      else body.textContent = ed ? ed.body : m.body;
      div.append(body);
      const meta = document.createElement("span");
      meta.className = "meta";
      if (ed && !ed.deleted) meta.append("edited ");
      if (m.created_at) meta.append(new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + " ");
      if (mine) {
        const st = document.createElement("span");
        st.className = "status";
        st.dataset.testid = "status";
        const s = m.failed ? "failed" : statusOf(cv, m);
        st.dataset.status = s;
        st.title = s;
        st.textContent = m.failed ? "⚠" : STATUS_TEXT[s];
        meta.append(st);
      }
      div.append(meta);
      nodes.push(div);
    }
    box.replaceChildren(...nodes);
    if (scrollToEnd || nearBottom) box.scrollTop = box.scrollHeight;
    else if (S.prepending) box.scrollTop = prevTop + (box.scrollHeight - prevHeight);
  }

  // History scroll-back: at the top, fetch the page before the oldest loaded seq.
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 30) loadOlder();
  });

  async function loadOlder() {
    const cv = S.convs.get(S.open);
    if (!cv || !cv.more || cv.loadingOlder || !cv.oldest) return;
    cv.loadingOlder = true;
    try {
      const page = await api("GET", `/v1/conversations/${cv.id}/messages?before_seq=${cv.oldest}&limit=${PAGE}`);
      for (const m of page.messages || []) applyEntry(cv, m);
      cv.more = page.next_before_seq !== undefined && page.next_before_seq !== null;
      if (S.open === cv.id) { S.prepending = true; renderMessages(false); S.prepending = false; }
    } catch (e) {
      console.warn("history", e);
    } finally {
      cv.loadingOlder = false;
    }
  }

  // ---- sending --------------------------------------------------------------------------------
  function newClientMsgID() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  }

  function submitMessage() {
    const input = $("message-input");
    const body = input.value.trim();
    const cv = S.convs.get(S.open);
    if (!body || !cv) return;
    if (new TextEncoder().encode(body).length > 4096) { alert("A message is at most 4096 bytes."); return; }
    const o = { id: newClientMsgID(), conv: cv.id, body, sentAt: 0, tries: 0 };
    S.outbox.set(o.id, o);
    input.value = "";
    transmit(o);
    renderMessages(true);
  }

  function transmit(o) {
    if (!S.ready) return; // sent after the next ready + sync
    o.sentAt = Date.now();
    o.tries++;
    send({ type: "send", conversation_id: o.conv, client_msg_id: o.id, body: o.body });
  }

  function retryStale() {
    const now = Date.now();
    for (const o of S.outbox.values()) {
      if (!o.failed && !o.acked && S.ready && (o.retryAt ? now >= o.retryAt : now - o.sentAt >= RETRY_AFTER_MS)) {
        o.retryAt = 0;
        transmit(o);
      }
    }
  }

  $("composer").addEventListener("submit", (ev) => { ev.preventDefault(); submitMessage(); });
  $("message-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submitMessage(); }
  });
  $("message-input").addEventListener("input", () => {
    const cv = S.convs.get(S.open);
    if (!cv || !S.ready || !$("message-input").value) return;
    const now = Date.now();
    if (now - cv.lastTypingSent >= TYPING_EVERY_MS) {
      cv.lastTypingSent = now;
      send({ type: "typing", conversation_id: cv.id });
    }
  });

  // ---- receipts -------------------------------------------------------------------------------
  function sendDelivered(cv) {
    if (S.ready && cv.synced && cv.lastSeq > cv.sentDelivered) {
      cv.sentDelivered = cv.lastSeq;
      send({ type: "delivered", conversation_id: cv.id, seq: cv.lastSeq });
    }
  }
  function sendRead(cv) {
    if (S.ready && cv.synced && S.open === cv.id && !document.hidden && cv.lastSeq > cv.sentRead && cv.lastSeq > cv.myRead) {
      cv.sentRead = cv.lastSeq;
      cv.myRead = cv.lastSeq;
      send({ type: "read", conversation_id: cv.id, seq: cv.lastSeq });
    }
  }
  document.addEventListener("visibilitychange", () => {
    const cv = S.convs.get(S.open);
    if (cv && !document.hidden) { cv.unread = 0; renderConversations(); sendRead(cv); }
  });

  // ---- typing ---------------------------------------------------------------------------------
  function clearTyping(cv, user) {
    const t = cv.typing.get(user);
    if (t) { clearTimeout(t); cv.typing.delete(user); if (S.open === cv.id) renderTyping(); }
  }
  function renderTyping() {
    const cv = S.convs.get(S.open);
    const names = cv ? [...cv.typing.keys()].map(userName) : [];
    const el = $("typing-indicator");
    el.textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
    el.dataset.active = names.length ? "true" : "false";
  }

  // ---- Web Push notifications -----------------------------------------------------------------
  // The "Notifications" switch shows when the browser has the Push API and the server has a VAPID
  // key (GET /v1/push/key; 404 means push is off there). On: register sw.js, subscribe with the
  // key as applicationServerKey, and register the subscription (POST /v1/push/subscriptions;
  // chat-notifier pushes to it). Off: unsubscribe, and DELETE it. A subscription belongs to the
  // browser profile, not the account: after a log-in it is registered again for whoever logged
  // in (the server moves it to them).
  const pushSupported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function pushError(text) {
    $("push-error").textContent = text;
    $("push-error").hidden = !text;
  }

  // base64url (padded or not) to bytes, as applicationServerKey wants them.
  function base64urlBytes(s) {
    const b64 = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
  }

  function subscribedWith(sub, key) {
    const have = sub.options && sub.options.applicationServerKey;
    if (!have) return true; // the browser does not say: assume ours
    const a = new Uint8Array(have), b = base64urlBytes(key);
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  // The switch's data-push says why it shows or not: unsupported (no Push API here), off (the
  // server has no key), unavailable (the service worker failed) or ready.
  async function initPush() {
    const box = $("push-box");
    if (!pushSupported) { box.dataset.push = "unsupported"; return; }
    let key;
    try {
      key = (await api("GET", "/v1/push/key")).public_key;
    } catch {
      box.dataset.push = "off"; // 404: push is not configured on this server
      return;
    }
    try {
      const reg = await navigator.serviceWorker.register("/sw.js");
      let sub = await reg.pushManager.getSubscription();
      if (sub && !subscribedWith(sub, key)) { // the server's key changed: that subscription is useless
        await sub.unsubscribe();
        sub = null;
      }
      if (!S.token) return; // logged out meanwhile
      if (sub && Notification.permission === "granted") await api("POST", "/v1/push/subscriptions", sub.toJSON());
      S.pushKey = key;
      $("push-toggle").checked = !!sub && Notification.permission === "granted";
      box.dataset.push = "ready";
      box.hidden = false;
    } catch (e) {
      box.dataset.push = "unavailable";
      console.warn("web push unavailable", e);
    }
  }

  async function enablePush() {
    if (await Notification.requestPermission() !== "granted") throw new Error("the browser blocks notifications for this site");
    const reg = await navigator.serviceWorker.register("/sw.js");
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlBytes(S.pushKey) });
    try {
      await api("POST", "/v1/push/subscriptions", sub.toJSON());
    } catch (e) {
      await sub.unsubscribe().catch(() => {});
      throw e;
    }
  }

  // disablePush unsubscribes first, so the browser stops getting pushes whatever the server says;
  // if the DELETE fails, the push service's 404/410 at the next push lets the notifier forget it.
  async function disablePush(token = S.token) {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const sub = reg && await reg.pushManager.getSubscription();
    if (!sub) return;
    const endpoint = sub.endpoint;
    await sub.unsubscribe();
    await api("DELETE", "/v1/push/subscriptions", { endpoint }, token).catch((e) => console.warn("unregister push", e));
  }

  $("push-toggle").addEventListener("change", async (ev) => {
    const box = ev.target, on = box.checked;
    box.disabled = true;
    pushError("");
    try {
      if (on) await enablePush(); else await disablePush();
    } catch (e) {
      box.checked = !on;
      pushError("Notifications: " + e.message);
    } finally {
      box.disabled = false;
    }
  });

  // A click on a notification while the app is open: sw.js focuses this tab and names the chat.
  if (pushSupported) {
    navigator.serviceWorker.onmessage = (ev) => {
      if (S.token && ev.data && ev.data.type === "open-conversation") openWhenLoaded(String(ev.data.conversation_id));
    };
  }

  // ---- the socket -----------------------------------------------------------------------------
  // Reconnects with exponential backoff and full jitter (0.5 s doubling to 30 s, protocol §4);
  // after ready it syncs every known conversation from its contiguous last_seq, then resends
  // every unacknowledged message with its original client_msg_id (the server acks a repeat
  // with duplicate=true and stores nothing new).
  function wsURL() {
    if (cfg.wsUrl) return cfg.wsUrl;
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  function setConn(state, text) {
    $("conn-status").dataset.state = state;
    $("conn-status").textContent = text;
  }

  function connect() {
    if (!S.token || S.ws) return;
    clearTimeout(S.reconnectTimer);
    // batch=1: the server may put several frames into one WebSocket message, '\n'-separated
    // (protocol §1), which saves it a write per frame when it falls behind.
    const u = wsURL();
    const ws = new WebSocket(u + (u.includes("?") ? "&" : "?") + "batch=1");
    S.ws = ws;
    S.ready = false;
    setConn("connecting", "connecting…");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: S.token }));
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split("\n")) {
        let f;
        try { f = JSON.parse(line); } catch { continue; }
        if (ws === S.ws) onFrame(f);
      }
    };
    ws.onclose = (ev) => { if (ws === S.ws) onClose(ev.code); };
  }

  function stopSocket() {
    const ws = S.ws;
    S.ws = null; S.ready = false;
    clearInterval(S.pingTimer); clearTimeout(S.pongTimer); clearTimeout(S.reconnectTimer);
    if (ws) ws.close(1000, "bye");
  }

  // refreshSocket reconnects at once (no backoff); the presence grace absorbs the gap.
  function refreshSocket() {
    if (!S.ws) return;
    stopSocket();
    for (const cv of S.convs.values()) cv.synced = false;
    connect();
  }

  function onClose(code) {
    S.ws = null; S.ready = false;
    clearInterval(S.pingTimer); clearTimeout(S.pongTimer);
    for (const cv of S.convs.values()) cv.synced = false;
    if (!S.token) return;
    if (code === 4001) { logout("Your session expired; please log in again."); return; }
    if (code === 4009) {
      // A newer session of this user pushed this one out (the per-user session cap). Reconnecting
      // on our own would push out another tab or device in turn, so wait for the user.
      setConn("offline", "closed: too many open tabs or devices; reload to reconnect");
      return;
    }
    if (code === 1008 || code === 1009) {
      // The server refused our input: do not hammer it with the same frames.
      for (const o of S.outbox.values()) o.failed = true;
      renderMessages(false);
    }
    const attempt = Math.min(S.attempt || 0, 6);
    S.attempt = attempt + 1;
    const delay = Math.random() * Math.min(30000, 500 * 2 ** attempt);
    setConn("offline", "reconnecting…");
    S.reconnectTimer = setTimeout(connect, delay);
  }

  function send(f) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(f));
  }

  function sendSync(list) {
    // At most 100 cursors a frame, all but the last with more: true (protocol §5 rule 2).
    const cursors = list.map((cv) => ({ conversation_id: cv.id, after_seq: cv.lastSeq }));
    if (!cursors.length) { send({ type: "sync", conversations: [] }); return; }
    for (let i = 0; i < cursors.length; i += 100) {
      const f = { type: "sync", conversations: cursors.slice(i, i + 100) };
      if (i + 100 < cursors.length) f.more = true;
      send(f);
    }
    for (const cv of list) cv.synced = true;
  }

  function onFrame(f) {
    switch (f.type) {
      case "ready": {
        S.ready = true;
        S.attempt = 0;
        setConn("online", "online");
        const hb = f.heartbeat_ms || 25000;
        let nonce = 0;
        clearInterval(S.pingTimer);
        S.pingTimer = setInterval(() => {
          send({ type: "ping", nonce: String(++nonce) });
          clearTimeout(S.pongTimer);
          S.pongTimer = setTimeout(() => { if (S.ws) S.ws.close(4000, "no pong"); }, hb);
        }, hb);
        sendSync([...S.convs.values()]);
        for (const o of S.outbox.values()) if (!o.failed && !o.acked) transmit(o);
        for (const cv of S.convs.values()) { sendDelivered(cv); if (S.open === cv.id) sendRead(cv); }
        break;
      }
      case "pong": clearTimeout(S.pongTimer); break;
      case "message": onMessage(f); break;
      case "sync_done": {
        const cv = S.convs.get(f.conversation_id);
        if (cv && f.last_seq > cv.lastSeq && !cv.ahead.size) cv.lastSeq = f.last_seq; // rule 4
        if (cv) sendDelivered(cv);
        break;
      }
      case "ack": {
        const o = S.outbox.get(f.client_msg_id);
        if (o) { o.acked = true; o.seq = f.seq; }
        // The message frame (with the same client_msg_id) replaces the local echo when it lands.
        break;
      }
      case "error": onError(f); break;
      case "typing": {
        const cv = S.convs.get(f.conversation_id);
        if (!cv || f.user_id === S.me.id) break;
        clearTimeout(cv.typing.get(f.user_id));
        cv.typing.set(f.user_id, setTimeout(() => clearTyping(cv, f.user_id), TYPING_SHOW_MS));
        if (S.open === cv.id) renderTyping();
        break;
      }
      case "receipt": {
        const cv = S.convs.get(f.conversation_id);
        if (!cv) break;
        const r = cv.receipts.get(f.user_id) || { delivered: 0, read: 0 };
        if (f.kind === "read") { r.read = Math.max(r.read, f.seq); r.delivered = Math.max(r.delivered, f.seq); }
        else r.delivered = Math.max(r.delivered, f.seq);
        cv.receipts.set(f.user_id, r);
        if (f.user_id === S.me.id && f.kind === "read") cv.myRead = Math.max(cv.myRead, f.seq);
        if (S.open === cv.id) renderMessages(false);
        break;
      }
      case "membership": // protocol §9: added to or removed from a conversation
        if (f.user_id !== S.me.id) break;
        if (f.change === "added") refreshConversations().catch(() => {});
        if (f.change === "removed" && S.convs.has(f.conversation_id)) {
          S.convs.delete(f.conversation_id);
          if (S.open === f.conversation_id) {
            S.open = "";
            $("chat-title").textContent = "You left this conversation";
            delete $("chat-title").dataset.conversationId;
            $("composer").hidden = true;
            renderMessages(true);
          }
          renderConversations();
        }
        break;
      case "presence":
        S.presence.set(f.user_id, f.status);
        renderContacts();
        renderConversations();
        break;
      default: break; // lenient: unknown frame types are for newer clients
    }
  }

  function onError(f) {
    const o = f.ref && S.outbox.get(f.ref);
    if (o) {
      if (f.code === "rate_limited") o.retryAt = Date.now() + (f.retry_after_ms || 1000);
      else if (FINAL_ERRORS.has(f.code)) { o.failed = true; if (S.open === o.conv) renderMessages(false); }
      else o.retryAt = Date.now() + 1000; // internal: retry with the same client_msg_id
      return;
    }
    if (f.code === "invalid_seq") refreshSocket(); // our view is off: resync
    console.warn("gateway error", f);
  }

  // A hook for tests and support: cut the connection as a network drop would, and hold the
  // reconnect for holdMs, so the outbox retry and the sync of the gap can be observed.
  window.chatApp = {
    dropConnection(holdMs) {
      const ws = S.ws;
      if (!ws) return;
      S.ws = null;
      onClose(1006);
      clearTimeout(S.reconnectTimer);
      S.reconnectTimer = setTimeout(connect, holdMs || 0);
      ws.close(4000, "dropped by chatApp.dropConnection");
    },
  };

  // ---- boot -----------------------------------------------------------------------------------
  if (S.token && S.me) start();
})();
