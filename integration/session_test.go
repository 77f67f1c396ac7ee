package integration

// Browser sessions (SPEC "Browser sessions"), against the built Caddy
// with a cookie jar: staying signed in without JavaScript, tabs racing,
// reuse after the grace, session_ttl, logout from the refresh cookie
// alone, and one sign-in for several sites. The sites are in
// session_helpers_test.go.

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSessionStaysSignedIn: after the access token expired, a navigation
// goes through the login page and back (two redirects, no form); five
// navigations at once after expiry all end on the page, and the login
// is not revoked.
func TestSessionStaysSignedIn(t *testing.T) {
	sessionSites(t)
	v := newVisitor(t)
	page := siteURL("auth", "/page")
	v.signIn("/page", page)

	expireAccess()
	if v.cookie(page, "access_token") != "" {
		t.Fatal("the jar kept an expired access cookie: the test would not test the refresh")
	}
	got := v.navigate(page)
	if got.status != http.StatusOK || got.url != page || got.body != "portal alice" {
		t.Fatalf("after the access token expired: %s, want 200 on the page", got)
	}
	if len(got.chain) != 2 || !strings.HasPrefix(got.chain[0], siteURL("auth", "/auth/login?return=")) {
		t.Errorf("the way back: %v, want the login page then the page", got.chain)
	}

	expireAccess()
	var wg sync.WaitGroup
	tabs := make([]visit, 5)
	for i := range tabs {
		wg.Go(func() { tabs[i] = v.navigate(page) })
	}
	wg.Wait()
	for i, tab := range tabs {
		if tab.status != http.StatusOK || tab.body != "portal alice" {
			t.Errorf("tab %d of 5 at once: %s, want 200 on the page", i, tab)
		}
	}
	expireAccess()
	if got := v.navigate(page); got.status != http.StatusOK || got.body != "portal alice" {
		t.Errorf("after five tabs at once, the login is gone: %s", got)
	}
}

// TestSessionReuseAfterGrace: a spent refresh token presented after
// refresh_grace revokes the login: the browser holding the newest token
// gets the form.
func TestSessionReuseAfterGrace(t *testing.T) {
	sessionSites(t, "refresh_grace 1s")
	v := newVisitor(t)
	page := siteURL("auth", "/page")
	v.signIn("/page", page)
	spent := v.cookie(siteURL("auth", "/auth/refresh"), "access_token_refresh")

	expireAccess()
	if got := v.navigate(page); got.status != http.StatusOK || got.form() {
		t.Fatalf("after expiry: %s", got)
	}
	if v.cookie(siteURL("auth", "/auth/refresh"), "access_token_refresh") == spent {
		t.Fatal("the navigation did not rotate the refresh token")
	}
	time.Sleep(1500 * time.Millisecond) // past the grace
	if status, body := postJSON(t, siteURL("auth", "/auth/refresh"), map[string]string{"refresh_token": spent}); status != http.StatusUnauthorized {
		t.Fatalf("the spent refresh token after the grace: %d %s, want 401", status, body)
	}
	expireAccess()
	if got := v.navigate(page); !got.form() {
		t.Errorf("the login survived a reused refresh token: %s, want the form", got)
	}
}

// TestSessionTTLEnds: no refresh reaches past session_ttl: the browser
// gets the form once it is reached, although its refresh token's idle
// limit is far.
func TestSessionTTLEnds(t *testing.T) {
	sessionSites(t, "session_ttl 8s", "refresh_ttl 1h") // 8s: room for a slow machine before the first check
	v := newVisitor(t)
	page := siteURL("auth", "/page")
	start := time.Now()
	v.signIn("/page", page)
	expireAccess()
	if got := v.navigate(page); got.status != http.StatusOK || got.form() {
		t.Fatalf("within session_ttl: %s", got)
	}
	time.Sleep(time.Until(start.Add(9 * time.Second)))
	if got := v.navigate(page); !got.form() {
		t.Errorf("after session_ttl: %s, want the form", got)
	}
}

// TestSessionLogoutFromRefreshCookie: with the access cookie expired, a
// logout carrying only the refresh cookie ends the login; its refresh
// token is refused afterwards.
func TestSessionLogoutFromRefreshCookie(t *testing.T) {
	sessionSites(t)
	v := newVisitor(t)
	page := siteURL("auth", "/page")
	v.signIn("/page", page)
	refresh := v.cookie(siteURL("auth", "/auth/logout"), "access_token_refresh")
	expireAccess()
	if v.cookie(siteURL("auth", "/auth/logout"), "access_token") != "" || refresh == "" {
		t.Fatal("want only the refresh cookie in the jar")
	}
	got := v.postForm(siteURL("auth", "/auth/logout"))
	if !got.form() {
		t.Errorf("logout form post: %s, want the login form", got)
	}
	if status, body := postJSON(t, siteURL("auth", "/auth/refresh"), map[string]string{"refresh_token": refresh}); status != http.StatusUnauthorized {
		t.Errorf("the refresh token after logout: %d %s, want 401", status, body)
	}
}

// TestSessionAcrossSites: one sign-in on the portal for the app site:
// the app's redirect carries the page's absolute URL, the portal sends the
// browser back there (a trusted origin), the domain cookie lets it in,
// and the upstream sees no token. An untrusted return goes to "/". A site
// that refuses the portal's tokens ends on the form, not in a loop.
func TestSessionAcrossSites(t *testing.T) {
	up := sessionSites(t)
	v := newVisitor(t)
	app := siteURL("app", "/docs?p=1")

	got := v.navigate(app)
	wantLogin := siteURL("auth", "/auth/login?return="+url.QueryEscape(app))
	if !got.form() || got.url != wantLogin || !strings.Contains(got.body, `value="`+strings.ReplaceAll(app, "&", "&amp;")+`"`) {
		t.Fatalf("the app without a token: %s, want the portal's form at %s keeping the return", got, wantLogin)
	}
	v.signIn(app, app)

	got = v.navigate(app)
	if got.status != http.StatusOK || got.url != app {
		t.Fatalf("the app after signing in: %s", got)
	}
	e := decodeEcho(t, "app", response{Status: got.status, Body: got.body})
	if len(e.Headers["Authorization"]) != 0 || strings.Contains(strings.Join(e.Headers["Cookie"], ";"), "access_token") {
		t.Errorf("the upstream saw a token: Authorization %q, Cookie %q", e.Headers["Authorization"], e.Headers["Cookie"])
	}
	if len(up.seen()) == 0 {
		t.Error("the upstream was never reached")
	}

	// After the access token expired: through the portal and back.
	expireAccess()
	if got := v.navigate(app); got.status != http.StatusOK || got.url != app {
		t.Errorf("the app after the access token expired: %s", got)
	}

	// An untrusted return: the portal's own front page.
	other := newVisitor(t)
	for _, bad := range []string{"http://evil.test:1/x", "http://app.example.test.evil.test/x", "//app.example.test/x"} {
		got := other.postForm(siteURL("auth", "/auth/login"), "username", "alice", "password", nodePassword, "return", bad)
		if got.chain[0] != siteURL("auth", "/") {
			t.Errorf("return %q: sent to %v, want %s", bad, got.chain, siteURL("auth", "/"))
		}
	}

	// A site that refuses the portal's tokens: the form, with a message,
	// after a few rounds, never a loop.
	strict := siteURL("strict", "/")
	got = v.navigate(strict)
	if !got.form() || !strings.Contains(got.body, "did not accept") {
		t.Errorf("a site refusing the portal's tokens: %s, want the form with a message", got)
	}
}
