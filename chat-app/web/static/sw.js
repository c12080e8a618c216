// chat-app service worker: shows the Web Push notifications chat-notifier sends (SENDER=webpush)
// and brings the app forward when one is clicked. The payload is notify.Payload, decrypted by the
// browser: {"title", "body" (the start of the newest message), "conversation_id" (a string),
// "seq"}. A push that is not that JSON still shows a generic notification: Chrome requires
// every push to show one (userVisibleOnly).
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (ev) => ev.waitUntil(self.clients.claim()));

self.addEventListener("push", (ev) => {
  let p = {};
  try { p = ev.data ? ev.data.json() : {}; } catch { p = {}; }
  const conv = typeof p.conversation_id === "string" ? p.conversation_id : "";
  ev.waitUntil(self.registration.showNotification(p.title || "New messages", {
    body: typeof p.body === "string" ? p.body : "",
    // One notification per conversation, replaced by the next, as the push service's Topic does.
    tag: conv ? "conversation-" + conv : "chat",
    renotify: true,
    data: { conversation_id: conv },
  }));
});

// A click focuses an open tab of the app and asks it to open the conversation, or opens the app
// at /#conversation=<id>, which it opens after loading.
self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  const conv = (ev.notification.data && ev.notification.data.conversation_id) || "";
  const url = new URL(conv ? "/#conversation=" + encodeURIComponent(conv) : "/", self.location.origin).href;
  ev.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const tab of tabs) {
      if (new URL(tab.url).origin !== self.location.origin) continue;
      await tab.focus();
      if (conv) tab.postMessage({ type: "open-conversation", conversation_id: conv });
      return;
    }
    await self.clients.openWindow(url);
  })());
});
