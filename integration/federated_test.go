package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestFederatedSignIn signs in with a real OpenID provider over HTTP,
// as a browser would: the login page offers "Sign in with test" and no
// password form; the sign-in lands on the page it was asked for, with
// sub test:<provider sub>, idp, the email (from the provider's userinfo:
// its ID tokens carry none) and the provider's amr; the login refreshes
// and logs out like a password login; its callback cannot be replayed.
func TestFederatedSignIn(t *testing.T) {
	op := fedStartOP(t)
	startCaddy(t, fedConfig(op, fedDownIssuer(t)))

	page := get(t, "/auth/login?return=%2Fpage")
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `href="/auth/login/test?return=%2Fpage">Sign in with test</a>`) ||
		!strings.Contains(page.Body, "Sign in with down") || strings.Contains(page.Body, `name="password"`) {
		t.Fatalf("login page: want one link per provider and no password form, got %s\n%s", page, page.Body)
	}

	b := newFedBrowser(t)
	id := fedToProviderLogin(t, b, "test", "/page?x=1")
	flowCookie := b.cookie(fedCallback, "access_token_oidc")
	if flowCookie == "" {
		t.Fatal("no sign-in cookie reaches the callback")
	}
	if b.cookie(baseURL+"/page", "access_token_oidc") != "" {
		t.Error("the sign-in cookie reaches more than the callback")
	}
	landed := fedLogInAtProvider(t, b, op, id, fedAllowed)
	const want = "ok test:id1 test test-user@zitadel.ch pwd"
	if landed.Status != http.StatusOK || landed.Body != want {
		t.Fatalf("after signing in: %s, want 200 %q", landed, want)
	}
	if last := b.visited[len(b.visited)-1]; last != baseURL+"/page?x=1" {
		t.Errorf("landed on %s, want the return target /page?x=1", last)
	}
	callback := b.callbackSeen()
	if callback == "" || b.cookie(fedCallback, "access_token_oidc") != "" {
		t.Errorf("callback %q seen; the sign-in cookie must be gone after it", callback)
	}

	// Refresh, as for a password login: same sub, idp and claims.
	refreshed := doWith(t, b.Client, http.MethodPost, "/auth/refresh")
	tok := issDecodeTokens(t, "refresh", refreshed)
	_, claims := issParts(t, tok.AccessToken)
	if claims["sub"] != "test:id1" || claims["idp"] != "test" || claims["email"] != "test-user@zitadel.ch" {
		t.Errorf("refreshed token claims: %v", claims)
	}
	if got := doWith(t, b.Client, http.MethodGet, "/page"); got.Body != want {
		t.Errorf("guarded page after refresh: %s", got)
	}

	// The callback, replayed with the sign-in cookie it had: refused.
	replayed := get(t, callback, cookie("access_token_oidc", flowCookie))
	fedWantRefused(t, "replayed callback", replayed, http.StatusBadRequest)
	fedWantRefused(t, "replayed callback, same browser", doWith(t, b.Client, http.MethodGet, callback), http.StatusBadRequest)

	// Logout ends the login: its refresh token is refused after it.
	if r := doWith(t, b.Client, http.MethodPost, "/auth/logout"); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %s", r)
	}
	issWantJSONError(t, "refresh after logout", issRefreshJSON(t, "/auth/refresh", tok.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	if r := doWith(t, b.Client, http.MethodGet, "/page"); r.Status != http.StatusUnauthorized {
		t.Errorf("guarded page after logout: %s, want 401", r)
	}
}

// TestFederatedRefusals: a wrong state, a provider's error, an ID token
// for another audience, a person the allow rules refuse and a provider
// that is down each get the login page with a message (400, or 403 for
// the person not allowed) and no token cookie.
func TestFederatedRefusals(t *testing.T) {
	op := fedStartOP(t)
	startCaddy(t, fedConfig(op, fedDownIssuer(t)))

	t.Run("wrong state", func(t *testing.T) {
		b := newFedBrowser(t)
		fedToProviderLogin(t, b, "test", "")
		r := doWith(t, b.Client, http.MethodGet, fedCallback+"?state=wrong&code=whatever")
		fedWantRefused(t, "wrong state", r, http.StatusBadRequest)
	})
	t.Run("no sign-in under way", func(t *testing.T) {
		fedWantRefused(t, "callback without a sign-in", get(t, fedCallback+"?state=x&code=y"), http.StatusBadRequest)
	})
	t.Run("provider error", func(t *testing.T) {
		b := newFedBrowser(t)
		fedToProviderLogin(t, b, "test", "")
		state := fedStateOf(t, b)
		r := doWith(t, b.Client, http.MethodGet, fedCallback+"?error=access_denied&state="+url.QueryEscape(state))
		fedWantRefused(t, "provider error", r, http.StatusBadRequest)
	})
	t.Run("another audience", func(t *testing.T) {
		op.otherAudience.Store(true)
		defer op.otherAudience.Store(false)
		b := newFedBrowser(t)
		r := fedSignIn(t, b, op, fedAllowed, "")
		fedWantRefused(t, "ID token for "+fedOtherClient, r, http.StatusBadRequest)
	})
	t.Run("not allowed", func(t *testing.T) {
		b := newFedBrowser(t)
		r := fedSignIn(t, b, op, fedRefused, "")
		fedWantRefused(t, "user not allowed", r, http.StatusForbidden)
		if !strings.Contains(r.Body, "may not sign in here") {
			t.Errorf("no message for the refused person: %s", r.Body)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		r := get(t, "/auth/login/down")
		fedWantRefused(t, "provider down", r, http.StatusBadRequest)
		if len(r.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("provider down: cookies set: %q", r.Header.Values("Set-Cookie"))
		}
	})
	t.Run("allowed after all that", func(t *testing.T) {
		if r := fedSignIn(t, newFedBrowser(t), op, fedAllowed, ""); r.Status != http.StatusOK {
			t.Errorf("sign-in after the refusals: %s", r)
		}
	})
}

// fedStateOf reads the state of the sign-in under way from the URL the
// browser was sent to at the provider.
func fedStateOf(t *testing.T, b *fedBrowser) string {
	t.Helper()
	for _, v := range b.visited {
		if u, err := url.Parse(v); err == nil && u.Query().Get("state") != "" {
			return u.Query().Get("state")
		}
	}
	t.Fatal("no state in any URL visited")
	return ""
}

// fedWantRefused asserts a refused sign-in: the status, the login page
// with a message, and no token cookie; the body holds no code.
func fedWantRefused(t *testing.T, label string, r response, status int) {
	t.Helper()
	if r.Status != status || !strings.Contains(r.Body, `role="alert"`) {
		t.Errorf("%s: got %s, want %d with the login page and a message", label, r, status)
	}
	issWantNoTokenCookies(t, label, r)
	if strings.Contains(r.Body, "code=") || strings.Contains(r.Body, fedSecret) {
		t.Errorf("%s: the page shows a code or the secret", label)
	}
}

// TestFederatedBrowser: in headless Chromium, a guarded page sends the
// browser to the login page; "Sign in with test" leads to the provider's
// page; logging in there lands on the guarded page.
func TestFederatedBrowser(t *testing.T) {
	chromium := needTool(t, "chromium")
	op := fedStartOP(t)
	startCaddy(t, fedConfig(op, fedDownIssuer(t)))
	ctx := browserStart(t, chromium, chromedp.Flag("explicitly-allowed-ports", fmt.Sprint(httpPort)))

	for _, step := range []struct {
		what string
		do   chromedp.Action[chromedp.Void]
	}{
		{"visiting the guarded page", chromedp.Navigate(baseURL + "/page")},
		{"finding the provider's button", chromedp.WaitVisible(chromedp.CSS(`a.idp[href^="/auth/login/test"]`))},
		{"clicking it", chromedp.Click(chromedp.CSS(`a.idp[href^="/auth/login/test"]`))},
		{"reaching the provider's page", chromedp.WaitVisible(chromedp.CSS(`#username`))},
		{"typing the user name", chromedp.SendKeys(chromedp.CSS(`#username`), fedAllowed)},
		{"typing the password", chromedp.SendKeys(chromedp.CSS(`#password`), fedPassword)},
		{"logging in", chromedp.Click(chromedp.CSS(`button[type=submit]`))},
	} {
		if _, err := chromedp.Run(ctx, step.do); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
	}
	var at, text string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		at, _ = chromedp.Run(ctx, chromedp.Location())
		if at == baseURL+"/page" {
			text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if at != baseURL+"/page" || !strings.HasPrefix(text, "ok test:id1 test ") {
		t.Fatalf("after signing in: at %s showing %q, want %s/page showing ok test:id1 …", at, text, baseURL)
	}
}

// TestFederatedAllowAtRefresh: the allow rules are checked again at each
// refresh, so a person taken off them is signed out at the next refresh
// (and the automatic sign-in of the login page shows the page instead).
func TestFederatedAllowAtRefresh(t *testing.T) {
	op := fedStartOP(t)
	down := fedDownIssuer(t)
	startCaddy(t, fedConfig(op, down))
	b := newFedBrowser(t)
	if r := fedSignIn(t, b, op, fedAllowed, ""); r.Status != http.StatusOK {
		t.Fatalf("sign-in: %s", r)
	}
	if r := doWith(t, b.Client, http.MethodPost, "/auth/refresh"); r.Status != http.StatusOK {
		t.Fatalf("refresh under the first rules: %s", r)
	}
	startCaddy(t, strings.Replace(fedConfig(op, down), "allow email test-user@zitadel.ch", "allow email someone-else@zitadel.ch", 1))
	r := doWith(t, b.Client, http.MethodPost, "/auth/refresh")
	issWantJSONError(t, "refresh once the rules changed", r, http.StatusUnauthorized, "invalid_grant")
}
