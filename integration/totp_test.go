package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTOTPHTTP signs in with a second factor over HTTP against the
// in-process Caddy: JSON and the form's two steps, wrong, expired and
// replayed codes, amr in the tokens and after refresh, and /admin/*
// guarded by require amr otp.
func TestTOTPHTTP(t *testing.T) {
	users, secret := totpUsers(t)
	startCaddy(t, siteConfigWith(globalOptions(t.TempDir()), totpSiteBody(users, "login_limit 50 1m")))

	// JSON: the password first, then with a code.
	r := totpLoginJSON(t, baseURL, "alice", "")
	if r.Status != 401 || strings.TrimSpace(r.Body) != `{"error":"otp_required"}` || r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("no code: %s", r)
	}
	if r := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login",
		jsonBody(map[string]string{"username": "alice", "password": "wrong"})); r.Status != 401 || !strings.Contains(r.Body, "invalid_credentials") {
		t.Errorf("wrong password, no code: %s (must not say otp_required)", r)
	}
	for label, code := range map[string]string{
		"wrong code":   "000000",
		"expired code": totpCode(t, secret, time.Now().Add(-90*time.Second)),
		"future code":  totpCode(t, secret, time.Now().Add(90*time.Second)),
		"not digits":   "abcdef",
	} {
		if code == totpCode(t, secret, time.Now()) {
			continue // one chance in a million
		}
		if r := totpLoginJSON(t, baseURL, "alice", code); r.Status != 401 || !strings.Contains(r.Body, "invalid_credentials") {
			t.Errorf("%s: %s", label, r)
		}
	}
	code := totpCode(t, secret, time.Now())
	r = totpLoginJSON(t, baseURL, "alice", code)
	if r.Status != 200 {
		t.Fatalf("right code: %s", r)
	}
	tok := issDecodeTokens(t, "right code", r)
	if amr := totpAMR(t, tok.AccessToken); !slices.Equal(amr, []any{"pwd", "otp"}) {
		t.Errorf("amr %v, want [pwd otp]", amr)
	}
	if r := totpLoginJSON(t, baseURL, "alice", code); r.Status != 401 || !strings.Contains(r.Body, "invalid_credentials") {
		t.Errorf("replayed code: %s", r)
	}
	if r := doWith(t, totpClient, http.MethodGet, baseURL+"/admin/x", bearer(tok.AccessToken)); r.Status != 200 || r.Body != "admin alice" {
		t.Errorf("/admin/ with amr otp: %s", r)
	}
	refreshed := issDecodeTokens(t, "refresh", doWith(t, totpClient, http.MethodPost, baseURL+"/auth/refresh",
		jsonBody(map[string]string{"refresh_token": tok.RefreshToken})))
	if amr := totpAMR(t, refreshed.AccessToken); !slices.Equal(amr, []any{"pwd", "otp"}) {
		t.Errorf("amr after refresh %v", amr)
	}

	// A password-only login: amr pwd, the site but not /admin/.
	bob := issDecodeTokens(t, "bob", totpLoginJSON(t, baseURL, "bob", ""))
	if amr := totpAMR(t, bob.AccessToken); !slices.Equal(amr, []any{"pwd"}) {
		t.Errorf("bob's amr %v", amr)
	}
	if r := doWith(t, totpClient, http.MethodGet, baseURL+"/page", bearer(bob.AccessToken)); r.Status != 200 {
		t.Errorf("/page with amr pwd: %s", r)
	}
	if r := doWith(t, totpClient, http.MethodGet, baseURL+"/admin/x", bearer(bob.AccessToken)); r.Status != 403 ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("/admin/ with amr pwd: %s", r)
	}

	// The form: password, then the code page, then the code.
	step1 := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login",
		formBody("username", "alice", "password", totpPassword, "return", "/admin/panel"))
	pending := totpCookieValue(t, "step 1", step1, "access_token_otp")
	if step1.Status != 200 || pending == "" || !strings.Contains(step1.Body, `name="otp"`) || strings.Contains(step1.Body, totpPassword) ||
		issSetCookie(t, "step 1", step1, "access_token") != "" {
		t.Fatalf("step 1: %s", step1)
	}
	if csp := step1.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("code page CSP %q", csp)
	}
	wrong := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login", formBody("otp", "000000"), cookie("access_token_otp", pending))
	again := totpCookieValue(t, "wrong code", wrong, "access_token_otp")
	if wrong.Status != 401 || again == "" || again == pending || !strings.Contains(wrong.Body, `name="otp"`) {
		t.Fatalf("wrong code in the form: %s", wrong)
	}
	code = totpNextCode(t, secret) // the JSON login above spent this step's code
	if r := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login", formBody("otp", code), cookie("access_token_otp", pending)); r.Status != 401 ||
		!strings.Contains(r.Body, `name="password"`) {
		t.Errorf("a spent pending sign-in: %s", r)
	}
	done := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login", formBody("otp", code), cookie("access_token_otp", again))
	access := totpCookieValue(t, "step 2", done, "access_token")
	if done.Status != 303 || done.Header.Get("Location") != "/admin/panel" || access == "" {
		t.Fatalf("step 2: %s", done)
	}
	if r := doWith(t, totpClient, http.MethodGet, baseURL+"/admin/panel", cookie("access_token", access)); r.Status != 200 {
		t.Errorf("/admin/ after the form: %s", r)
	}
	// The same code once more, in a new sign-in: refused.
	step1 = doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login", formBody("username", "alice", "password", totpPassword))
	pending = totpCookieValue(t, "step 1 again", step1, "access_token_otp")
	if r := doWith(t, totpClient, http.MethodPost, baseURL+"/auth/login", formBody("otp", code), cookie("access_token_otp", pending)); r.Status != 401 {
		t.Errorf("a replayed code in the form: %s", r)
	}
}

// TestTOTPLimit: wrong codes count toward login_limit like wrong
// passwords, so that codes cannot be guessed; then even the right code
// gets 429.
func TestTOTPLimit(t *testing.T) {
	users, secret := totpUsers(t)
	startCaddy(t, siteConfigWith(globalOptions(t.TempDir()), totpSiteBody(users, "login_limit 3 10m")))
	for range 3 { // asking for the code is no failure
		if r := totpLoginJSON(t, baseURL, "alice", ""); r.Status != 401 {
			t.Fatalf("no code: %s", r)
		}
	}
	for i := range 3 {
		if r := totpLoginJSON(t, baseURL, "alice", "00000"+string(rune('0'+i))); r.Status != 401 {
			t.Fatalf("wrong code %d: %s", i, r)
		}
	}
	r := totpLoginJSON(t, baseURL, "alice", totpCode(t, secret, time.Now()))
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("right code after three wrong ones: %s, want 429 with Retry-After", r)
	}
}

// totpAMR is the amr claim of a token, unverified.
func totpAMR(t *testing.T, tok string) []any {
	t.Helper()
	_, claims := issParts(t, tok)
	amr, _ := claims["amr"].([]any)
	return amr
}
