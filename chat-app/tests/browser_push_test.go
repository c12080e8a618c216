package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify/pushtest"
)

// pushManagerStub replaces the browser's PushManager subscribe/getSubscription in the page with one
// that hands out the subscription of a pushtest device, and records what the app asked for. It is
// the one thing this test fakes: the browser's own link to its push service (FCM for Chromium),
// which headless Chromium cannot reach. The switch, the permission, sw.js and the server are real.
const pushManagerStub = `(() => {
  let sub = null;
  const json = {endpoint: %s, expirationTime: null, keys: {p256dh: %s, auth: %s}};
  window.pushStub = {subscribed: [], unsubscribed: 0};
  PushManager.prototype.getSubscription = async function () { return sub; };
  PushManager.prototype.subscribe = async function (opts) {
    const key = btoa(String.fromCharCode(...new Uint8Array(opts.applicationServerKey)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    window.pushStub.subscribed.push({key, userVisibleOnly: opts.userVisibleOnly});
    sub = {endpoint: json.endpoint, options: {applicationServerKey: opts.applicationServerKey, userVisibleOnly: true},
      toJSON: () => json, unsubscribe: async () => { sub = null; window.pushStub.unsubscribed++; return true; }};
    return sub;
  };
})()`

// TestBrowserPushNotifications: with a VAPID key on the server, the "Notifications" switch shows;
// turning it on subscribes with that key and registers the subscription through the API. The
// notifier's Web Push sender then pushes a job to it through a push service that checks VAPID
// and decrypts; delivered to sw.js, the payload becomes a notification naming the conversation,
// and the app opens that conversation at the URL a click on it opens. Turning the switch off
// unsubscribes and unregisters.
func TestBrowserPushNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	vapidPrivate, vapidPublic, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	ps := pushtest.New(t, vapidPublic, "mailto:ops@example.com")
	device := ps.Device("/push/dave-laptop", http.StatusCreated)
	srv := newChatServer(t, func(o *api.Options) {
		o.VAPIDPublicKey = vapidPublic
		o.PushHosts = []string{"127.0.0.1"} // the fake push service
	})
	browserCtx := newBrowser(t)
	dave := newUser(t, browserCtx, "dave")
	_, err = chromedp.CallBrowser(dave.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
		Origin: srv.URL, BrowserContextID: chromedp.FromContext(dave.ctx).BrowserContextID})
	require.NoError(t, err, "grant notifications, as a user clicking Allow would")

	dave.do("sign up",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("auth-username")),
		chromedp.SendKeys(chromedp.ID("auth-username"), "dave"),
		chromedp.SendKeys(chromedp.ID("auth-password"), "dave-password"),
		chromedp.Click(chromedp.ID("signup-btn")),
		chromedp.WaitVisible(chromedp.ID("app-view")),
	)
	dave.waitFor("the notifications switch", sel("#push-box")+`.dataset.push === "ready" && !`+sel("#push-box")+".hidden")
	assert.False(t, eval[bool](dave, sel("#push-toggle")+".checked"), "off until turned on")
	daveID, err := strconv.ParseInt(eval[string](dave, `JSON.parse(sessionStorage.getItem("chat.user")).id`), 10, 64)
	require.NoError(t, err)

	// Someone writes to dave, so there is a conversation to be notified about.
	erin := apitest.Signup(t, srv.URL, "erin", "erin-password")
	var conv api.Conversation
	apitest.Call(t, http.MethodPost, srv.URL+"/v1/conversations/direct", erin.Token, api.DirectRequest{UserID: api.ID(daveID)}, &conv, http.StatusOK)

	dave.do("stub the browser's push service link",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(pushManagerStub, js(device.Endpoint), js(device.P256dh), js(device.Auth))))
	dave.do("turn notifications on", chromedp.Click(chromedp.ID("push-toggle")))
	dave.waitFor("the switch on", sel("#push-toggle")+".checked && !"+sel("#push-toggle")+".disabled")
	assert.Equal(t, "", eval[string](dave, sel("#push-error")+".textContent"))
	assert.JSONEq(t, fmt.Sprintf(`[{"key":%q,"userVisibleOnly":true}]`, vapidPublic), eval[string](dave, "JSON.stringify(window.pushStub.subscribed)"),
		"subscribed with the server's VAPID key as applicationServerKey")
	subs, err := srv.push.PushSubscriptions(t.Context(), daveID)
	require.NoError(t, err)
	require.Len(t, subs, 1, "registered through POST /v1/push/subscriptions")
	assert.Equal(t, chat.PushSubscription{UserID: daveID, Endpoint: device.Endpoint, P256dh: device.P256dh, Auth: device.Auth, CreatedAt: subs[0].CreatedAt}, subs[0])

	// chat-notifier's sender, on the same store, pushes a job for dave.
	sender, err := notify.NewWebPushSender(notify.WebPushOptions{Subscriptions: notify.PushStoreSubscriptions{Store: srv.push},
		VAPIDPublicKey: vapidPublic, VAPIDPrivateKey: vapidPrivate, Subject: "mailto:ops@example.com", Logger: slog.New(slog.DiscardHandler),
		Hosts: []string{"127.0.0.1"}}) // the fake push service
	require.NoError(t, err)
	require.NoError(t, sender.Send(t.Context(), notify.Job{UserID: daveID, ConversationID: int64(conv.ID), Seq: 1, Preview: "dinner at 8?"}))
	pushes := ps.Pushes("/push/dave-laptop")
	require.Len(t, pushes, 1)

	// The push service hands the decrypted payload to the service worker, as the browser would,
	// once the worker is active (a push to a worker still installing is dropped).
	dave.waitFor("sw.js active", `(navigator.serviceWorker.ready.then(() => { window.swActive = true; }), window.swActive === true)`)
	ctx, cancel := context.WithTimeout(dave.ctx, stepTimeout)
	defer cancel()
	scope := srv.URL + "/"
	regs, err := chromedp.Run(ctx, chromedp.WaitEvent(serviceworker.WorkerRegistrationUpdated,
		func(e serviceworker.EventWorkerRegistrationUpdated) bool { return registration(e, scope) != nil },
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, serviceworker.Enable, cdp.Empty{})
			return err
		})))
	require.NoError(t, err, "sw.js registered for %s", scope)
	// Each poll asks the worker's registration for its notifications and returns the last answer.
	shown := `(navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => { window.shown = JSON.stringify(
		ns.map(n => ({title: n.title, body: n.body, tag: n.tag, conversation_id: n.data.conversation_id}))); }), window.shown || "[]")`
	// Headless Chromium now and then drops a push it hands to the worker (1 run in 2 on a loaded
	// machine), as a browser may drop one it gets while starting the worker; the push service's
	// retry is modelled by delivering it again. The tag keeps it one notification.
	for try := 0; ; try++ {
		_, err = chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
			Origin: srv.URL, RegistrationID: registration(regs, scope).RegistrationID, Data: string(pushes[0].Payload)})
		require.NoError(t, err)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) && eval[string](dave, shown) == "[]" {
			time.Sleep(50 * time.Millisecond)
		}
		if eval[string](dave, shown) != "[]" {
			break
		}
		require.Less(t, try, 15, "no notification after %d deliveries of the push", try+1)
	}
	dave.waitFor("the notification", "JSON.parse("+shown+").length === 1")
	var notes []map[string]string
	require.NoError(t, json.Unmarshal([]byte(eval[string](dave, shown)), &notes))
	require.Len(t, notes, 1)
	assert.Equal(t, map[string]string{"title": "New messages", "body": "dinner at 8?", "tag": "conversation-" + conv.ID.String(),
		"conversation_id": conv.ID.String()}, notes[0])
	dave.screenshot(t.TempDir(), "browser-push-dave.png")

	dave.do("turn notifications off", chromedp.Click(chromedp.ID("push-toggle")))
	dave.waitFor("the switch off", "!"+sel("#push-toggle")+".checked && !"+sel("#push-toggle")+".disabled")
	assert.Equal(t, 1, eval[int](dave, "window.pushStub.unsubscribed"), "unsubscribed in the browser")
	subs, err = srv.push.PushSubscriptions(t.Context(), daveID)
	require.NoError(t, err)
	assert.Empty(t, subs, "unregistered through DELETE /v1/push/subscriptions")

	// A click on the notification opens the app at /#conversation=<id> (sw.js): it opens that chat.
	// A new tab (no tab of the app was open) loads the app with it...
	dave.do("open the notification's link in a fresh page", chromedp.Navigate("about:blank"),
		chromedp.Navigate(srv.URL+"/#conversation="+notes[0]["conversation_id"]))
	dave.waitFor("the conversation open", sel("#chat-title")+".dataset.conversationId === "+js(conv.ID.String()))
	dave.waitFor("the link consumed", `location.hash === ""`)
	// ...and in a tab already on the app, where following it changes only the hash.
	dave.do("back to no conversation", chromedp.Navigate("about:blank"), chromedp.Navigate(srv.URL+"/"))
	dave.waitFor("the app", sel("#conn-status")+`.dataset.state === "online"`)
	require.Empty(t, eval[string](dave, sel("#chat-title")+".dataset.conversationId || ''"))
	dave.do("follow the link", chromedp.Navigate(srv.URL+"/#conversation="+notes[0]["conversation_id"]))
	dave.waitFor("the conversation open", sel("#chat-title")+".dataset.conversationId === "+js(conv.ID.String()))

	// Logging out takes this browser's notifications away from the account.
	dave.do("stub again (the page was reloaded)",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(pushManagerStub, js(device.Endpoint), js(device.P256dh), js(device.Auth))))
	dave.do("turn notifications on again", chromedp.Click(chromedp.ID("push-toggle")))
	dave.waitFor("the switch on", sel("#push-toggle")+".checked && !"+sel("#push-toggle")+".disabled")
	subs, err = srv.push.PushSubscriptions(t.Context(), daveID)
	require.NoError(t, err)
	require.Len(t, subs, 1)
	dave.do("log out", chromedp.Click(chromedp.ID("logout-btn")), chromedp.WaitVisible(chromedp.ID("auth-view")))
	dave.waitFor("unsubscribed", "window.pushStub.unsubscribed === 1")
	require.Eventually(t, func() bool {
		subs, err := srv.push.PushSubscriptions(t.Context(), daveID)
		return err == nil && len(subs) == 0
	}, stepTimeout, 20*time.Millisecond, "unregistered at log-out")
	assert.True(t, eval[bool](dave, sel("#push-box")+".hidden"))
}

func registration(e serviceworker.EventWorkerRegistrationUpdated, scope string) *serviceworker.Registration {
	for _, r := range e.Registrations {
		if r.ScopeURL == scope && !r.IsDeleted {
			return r
		}
	}
	return nil
}
