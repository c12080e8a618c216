// Package tests holds chat-app's end-to-end tests. The browser test drives the web client in
// headless Chromium against the real API, gateway and web handler in one process.
package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserChat: two people, each in their own browser context, sign up, add each other,
// chat 1:1 both ways, and see presence, typing, unread counts and read receipts change live.
func TestBrowserChat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	started := time.Now()
	srv := newChatServer(t)
	browser := newBrowser(t)
	alice := newUser(t, browser, "alice")
	bob := newUser(t, browser, "bob")
	shots := t.TempDir()

	for _, u := range []*user{alice, bob} {
		display := map[string]string{"alice": "Alice", "bob": "Bob"}[u.name]
		u.do("sign up",
			chromedp.Navigate(srv.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("auth-username")),
			chromedp.SendKeys(chromedp.ID("auth-username"), u.name),
			chromedp.SendKeys(chromedp.ID("auth-password"), u.name+"-password"),
			chromedp.SendKeys(chromedp.ID("auth-display"), display),
			chromedp.Click(chromedp.ID("signup-btn")),
			chromedp.WaitVisible(chromedp.ID("app-view")),
		)
		u.waitFor("the socket to be ready", sel("#conn-status")+`.dataset.state === "online"`)
		u.waitFor("no notifications switch: this server has no VAPID key", sel("#push-box")+`.dataset.push === "off" && `+sel("#push-box")+".hidden")
	}

	// Contacts and presence: the dot of a contact who is connected turns online.
	contactDot := func(name string) string {
		return sel(fmt.Sprintf(`#contact-list li[data-username="%s"] .dot`, name))
	}
	alice.do("add bob", chromedp.SendKeys(chromedp.ID("add-contact-input"), "bob"), chromedp.Click(chromedp.ID("add-contact-btn")))
	alice.waitFor("bob in the contact list", contactDot("bob")+" !== null")
	alice.waitFor("bob online", contactDot("bob")+`.dataset.presence === "online"`)
	bob.do("add alice", chromedp.SendKeys(chromedp.ID("add-contact-input"), "alice"), chromedp.Click(chromedp.ID("add-contact-btn")))
	bob.waitFor("alice online", contactDot("alice")+`.dataset.presence === "online"`)

	// Alice opens the 1:1 chat and sends with Enter.
	alice.do("open the chat with bob", chromedp.Click(chromedp.CSS(`#contact-list li[data-username="bob"]`)),
		chromedp.WaitVisible(chromedp.ID("message-input")))
	alice.waitFor("the chat title", sel("#chat-title")+`.textContent === "Bob"`)
	alice.do("send", chromedp.SendKeys(chromedp.ID("message-input"), "hello bob\r"))
	mine := `[...document.querySelectorAll('#messages .msg.mine')]`
	alice.waitFor("her message stored", mine+`.some(m => m.dataset.seq === "1" && m.textContent.includes("hello bob"))`)

	// Bob discovers the conversation with one unread message; his client reports it delivered.
	conv := sel(`#conversation-list li[data-testid="conversation"]`)
	bob.waitFor("the conversation with an unread badge", conv+` !== null && `+conv+`.querySelector('[data-testid="unread"]').textContent === "1"`)
	status := func(seq int) string {
		return sel(fmt.Sprintf(`#messages .msg.mine[data-seq="%d"] [data-testid="status"]`, seq)) + ".dataset.status"
	}
	alice.waitFor("✓ delivered", status(1)+` === "delivered"`)
	assert.Equal(t, "✓", eval[string](alice, sel(`#messages .msg.mine[data-seq="1"] [data-testid="status"]`)+".textContent"))

	// Bob opens it: the badge clears and Alice sees ✓✓ read.
	bob.do("open the conversation", chromedp.Click(chromedp.CSS(`#conversation-list li[data-testid="conversation"]`)),
		chromedp.WaitVisible(chromedp.ID("message-input")))
	bob.waitFor("alice's message", `[...document.querySelectorAll('#messages .msg:not(.mine)')].some(m => m.textContent.includes("hello bob"))`)
	bob.waitFor("the badge cleared", conv+`.querySelector('[data-testid="unread"]').textContent === ""`)
	alice.waitFor("✓✓ read", status(1)+` === "read"`)
	assert.Equal(t, "✓✓", eval[string](alice, sel(`#messages .msg.mine[data-seq="1"] [data-testid="status"]`)+".textContent"))

	// Bob types: Alice sees the indicator; his message replaces it.
	bob.do("type", chromedp.SendKeys(chromedp.ID("message-input"), "hi al"))
	alice.waitFor("Bob is typing…", sel("#typing-indicator")+`.textContent === "Bob is typing…"`)
	bob.do("send", chromedp.SendKeys(chromedp.ID("message-input"), "ice\r"))
	alice.waitFor("bob's reply", `[...document.querySelectorAll('#messages .msg:not(.mine)')].some(m => m.dataset.seq === "2" && m.textContent.includes("hi alice"))`)
	alice.waitFor("the indicator gone", sel("#typing-indicator")+`.textContent === ""`)
	bob.waitFor("his reply read by alice", status(2)+` === "read"`)
	alice.do("send another", chromedp.SendKeys(chromedp.ID("message-input"), "see you at 6?\r"))
	bob.waitFor("the third message", `[...document.querySelectorAll('#messages .msg:not(.mine)')].some(m => m.dataset.seq === "3")`)
	alice.waitFor("✓✓ on the third", status(3)+` === "read"`)

	alice.screenshot(shots, "browser-chat-alice.png")
	bob.screenshot(shots, "browser-chat-bob.png")

	// Each entry exactly once, in seq order, in both windows.
	seqs := `[...document.querySelectorAll('#messages .msg')].map(m => m.dataset.seq || "pending").join(",")`
	for _, u := range []*user{alice, bob} {
		assert.Equal(t, "1,2,3", eval[string](u, seqs), "%s's message list", u.name)
	}

	// A dropped connection: Alice's send waits in the outbox, Bob's message lands in the gap;
	// after the reconnect her send is retried and the gap synced — each entry exactly once.
	alice.do("drop the connection", chromedp.Evaluate[chromedp.Void](`window.chatApp.dropConnection(1500)`))
	alice.waitFor("offline", sel("#conn-status")+`.dataset.state !== "online"`)
	alice.do("send while offline", chromedp.SendKeys(chromedp.ID("message-input"), "sent while offline\r"))
	alice.waitFor("the local echo", sel(`#messages .msg.mine [data-status="sending"]`)+` !== null`)
	bob.do("send into the gap", chromedp.SendKeys(chromedp.ID("message-input"), "while you were away\r"))
	alice.waitFor("online again", sel("#conn-status")+`.dataset.state === "online"`)
	alice.waitFor("the gap synced", `[...document.querySelectorAll('#messages .msg:not(.mine)')].some(m => m.textContent.includes("while you were away"))`)
	alice.waitFor("her retried send stored", `[...document.querySelectorAll('#messages .msg.mine')].some(m => m.dataset.seq && m.textContent.includes("sent while offline"))`)
	bob.waitFor("both new messages", `document.querySelectorAll('#messages .msg').length === 5`)
	for _, u := range []*user{alice, bob} {
		assert.Equal(t, "1,2,3,4,5", eval[string](u, seqs), "%s's message list after the reconnect", u.name)
	}

	// Presence changes are pushed live: Bob leaves (offline after the grace) and logs back in.
	bob.do("log out", chromedp.Click(chromedp.ID("logout-btn")), chromedp.WaitVisible(chromedp.ID("auth-view")))
	alice.waitFor("bob offline", contactDot("bob")+`.dataset.presence === "offline"`)
	bob.do("log in",
		chromedp.SendKeys(chromedp.ID("auth-username"), "bob"),
		chromedp.SendKeys(chromedp.ID("auth-password"), "bob-password"),
		chromedp.Click(chromedp.ID("login-btn")),
		chromedp.WaitVisible(chromedp.ID("app-view")),
	)
	alice.waitFor("bob online again", contactDot("bob")+`.dataset.presence === "online"`)
	// His fresh session rebuilds the conversation from history (nothing unread: he read it all).
	bob.waitFor("the conversation again", conv+` !== null`)
	require.Equal(t, "", eval[string](bob, conv+`.querySelector('[data-testid="unread"]').textContent`))
	bob.do("reopen", chromedp.Click(chromedp.CSS(`#conversation-list li[data-testid="conversation"]`)))
	bob.waitFor("history", `[...document.querySelectorAll('#messages .msg')].length === 5`)
	assert.Equal(t, "1,2,3,4,5", eval[string](bob, seqs))

	t.Logf("browser test took %s", time.Since(started).Round(time.Millisecond))
}
