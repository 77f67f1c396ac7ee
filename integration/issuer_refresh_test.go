package integration

// The issuer's refresh and logout: cookies, refresh tokens (and their
// races), logout, a browser's whole cycle, and cross-origin requests.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIssuerRefreshRace: one refresh token sent by several clients at
// once, with refresh_grace 0s, is spent once: exactly one gets new tokens,
// the others are refused as reuse, and the login is revoked. (With the
// default grace they are tabs racing, and all succeed:
// TestIssuerRefreshTabs.)
func TestIssuerRefreshRace(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "refresh_grace 0s")))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	const n = 5
	results := make(chan response, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			r, err := try(httpClient, http.MethodPost, "/auth/refresh", jsonBody(map[string]string{"refresh_token": tok.RefreshToken}))
			if err != nil {
				errs <- err
				return
			}
			results <- r
		}()
	}
	close(start)
	var won []issTokens
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case r := <-results:
			switch r.Status {
			case http.StatusOK:
				won = append(won, issDecodeTokens(t, "concurrent refresh", r))
			case http.StatusUnauthorized:
				issWantJSONError(t, "concurrent refresh, refused", r, http.StatusUnauthorized, "invalid_grant")
			default:
				t.Errorf("concurrent refresh: %s, want 200 once and 401 for the others", r)
			}
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent refreshes of one token succeeded, want exactly 1", len(won), n)
	}
	issWantRevoked(t, "the winner's access token after the reuse", get(t, "/", bearer(won[0].AccessToken)))
	issWantJSONError(t, "the winner's refresh token after the reuse", issRefreshJSON(t, "/auth/refresh", won[0].RefreshToken), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerRefreshTabs: with the default refresh_grace, one refresh
// token sent at once by five clients (tabs restoring after a break) gives
// every one new tokens, all with the same next refresh token, and the
// login stays: that token spends once more, and the first access token
// still passes.
func TestIssuerRefreshTabs(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	const n = 5
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := try(httpClient, http.MethodPost, "/auth/refresh", jsonBody(map[string]string{"refresh_token": tok.RefreshToken}))
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	next := map[any]bool{}
	var last issTokens
	for i, r := range results {
		if r.Status != http.StatusOK {
			t.Fatalf("tab %d: %s, want 200", i, r)
		}
		last = issDecodeTokens(t, "tab refresh", r)
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(last.RefreshToken, claims); err != nil {
			t.Fatal(err)
		}
		next[claims["jti"]] = true
	}
	if len(next) != 1 {
		t.Errorf("the tabs got %d different next refresh tokens, want one", len(next))
	}
	wantOK(t, "the login's first access token after the tabs", get(t, "/", bearer(tok.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", last.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("the tabs' next refresh token: %s, want 200", r)
	}
}

// TestIssuerCookies: the cookie subdirective changes name, domain, path
// and SameSite of the cookies; insecure drops Secure; access_ttl and
// refresh_ttl set Max-Age; refresh_ttl 0 turns refresh tokens off.
func TestIssuerCookies(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash, "access_ttl 5m", "refresh_ttl 1h",
		"cookie sess {\n\t\t\tdomain example.test\n\t\t\tpath /app\n\t\t\tsame_site strict\n\t\t}")))
	r := issLoginResp(t, "/auth/login", "alice", issAlicePW)
	tok := issDecodeTokens(t, "login", r)
	if tok.ExpiresIn != 300 || tok.RefreshExpiresIn != 3600 {
		t.Errorf("expires_in %d refresh_expires_in %d, want 300 and 3600", tok.ExpiresIn, tok.RefreshExpiresIn)
	}
	if got, want := issSetCookie(t, "login", r, "sess"),
		"sess="+tok.AccessToken+"; Path=/app; Domain=example.test; Max-Age=300; HttpOnly; Secure; SameSite=Strict"; got != want {
		t.Errorf("access cookie:\n got %q\nwant %q", got, want)
	}
	if got, want := issSetCookie(t, "login", r, "sess_refresh"),
		"sess_refresh="+tok.RefreshToken+"; Path=/auth/; Domain=example.test; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"; got != want {
		t.Errorf("refresh cookie:\n got %q\nwant %q", got, want)
	}
	issWantNoTokenCookies(t, "login with cookie sess", r)
	_, c := issParts(t, tok.AccessToken)
	if exp, iat := issInt(t, "access", c, "exp"), issInt(t, "access", c, "iat"); exp-iat != 300 {
		t.Errorf("access_ttl 5m: exp-iat = %d", exp-iat)
	}
	// The guard reads the renamed cookie, not the default one.
	wantOK(t, "cookie sess", get(t, "/app/x", cookie("sess", tok.AccessToken)), "ok alice")
	if r := get(t, "/app/x", cookie("access_token", tok.AccessToken)); r.Status != http.StatusUnauthorized || r.Body != "missing" {
		t.Errorf("default cookie name with cookie sess: %s, want 401 missing", r)
	}
	// The refresh cookie is read under its name.
	r = doRequest(t, http.MethodPost, "/auth/refresh", cookie("sess_refresh", tok.RefreshToken))
	if r.Status != http.StatusOK || !strings.HasPrefix(issSetCookie(t, "refresh", r, "sess_refresh"), "sess_refresh=ey") {
		t.Errorf("refresh with the sess_refresh cookie: %s, want 200 and a new sess_refresh cookie", r)
	}
	// Logout clears both, with the same attributes.
	r = doRequest(t, http.MethodPost, "/auth/logout")
	if got, want := issSetCookie(t, "logout", r, "sess"), "sess=; Path=/app; Domain=example.test; Max-Age=0; HttpOnly; Secure; SameSite=Strict"; got != want {
		t.Errorf("logout, access cookie:\n got %q\nwant %q", got, want)
	}
	if got, want := issSetCookie(t, "logout", r, "sess_refresh"), "sess_refresh=; Path=/auth/; Domain=example.test; Max-Age=0; HttpOnly; Secure; SameSite=Lax"; got != want {
		t.Errorf("logout, refresh cookie:\n got %q\nwant %q", got, want)
	}

	// same_site none.
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash, "cookie {\n\t\t\tsame_site none\n\t\t}")))
	r = issLoginResp(t, "/auth/login", "alice", issAlicePW)
	tok = issDecodeTokens(t, "login", r)
	if got, want := issSetCookie(t, "login", r, "access_token"),
		"access_token="+tok.AccessToken+"; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=None"; got != want {
		t.Errorf("same_site none:\n got %q\nwant %q", got, want)
	}
	if got := issSetCookie(t, "login", r, "access_token_refresh"); !strings.HasSuffix(got, "; HttpOnly; Secure; SameSite=Lax") {
		t.Errorf("same_site none, refresh cookie %q: want SameSite=Lax still", got)
	}

	// insecure, refresh off.
	startCaddy(t, guardConfigIn(t.TempDir(), []string{"key auto", "login /auth/login", "logout /auth/logout", "user alice " + hash,
		"refresh_ttl 0", "cookie {\n\t\t\tinsecure\n\t\t}"}))
	r = issLoginResp(t, "/auth/login", "alice", issAlicePW)
	tok = issDecodeTokens(t, "login", r)
	var body map[string]any
	_ = json.Unmarshal([]byte(r.Body), &body)
	for _, k := range []string{"refresh_token", "refresh_expires_in"} {
		if _, has := body[k]; has {
			t.Errorf("refresh_ttl 0: login body has %s: %s", k, r.Body)
		}
	}
	if got, want := issSetCookie(t, "login", r, "access_token"),
		"access_token="+tok.AccessToken+"; Path=/; Max-Age=900; HttpOnly; SameSite=Lax"; got != want {
		t.Errorf("insecure:\n got %q\nwant %q", got, want)
	}
	if got := issSetCookie(t, "login", r, "access_token_refresh"); got != "" {
		t.Errorf("refresh_ttl 0: refresh cookie set: %q", got)
	}
	wantOK(t, "refresh off, access token", get(t, "/", bearer(tok.AccessToken)), "ok alice")
	// Without jwks_endpoint there is no discovery document: the guard answers.
	if r := get(t, "/.well-known/openid-configuration"); r.Status != http.StatusUnauthorized {
		t.Errorf("discovery without jwks_endpoint: %s, want the guard's 401", r)
	}
}

// TestIssuerRefresh: rotation through the JSON body and the cookie, every
// refused refresh (missing, invalid, expired, spent, revoked), and reuse
// detection revoking the whole login.
func TestIssuerRefresh(t *testing.T) {
	storage := t.TempDir()
	dir := t.TempDir()
	users := issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": bcryptHash(t, issAlicePW), "claims": map[string]any{"role": "admin"}},
	})
	startCaddy(t, guardConfigIn(storage, issStdLines("users_file "+users)))
	wantRefused := func(label string, r response) {
		t.Helper()
		issWantJSONError(t, label, r, http.StatusUnauthorized, "invalid_grant")
		if got := issSetCookie(t, label, r, "access_token_refresh"); !strings.HasPrefix(got, "access_token_refresh=;") || !strings.Contains(got, "Max-Age=0") ||
			!strings.Contains(got, "Path=/auth/;") {
			t.Errorf("%s: refresh cookie not cleared: %q", label, got)
		}
		if got := issSetCookie(t, label, r, "access_token"); got != "" {
			t.Errorf("%s: access cookie set: %q", label, got)
		}
	}

	t1 := issLogin(t, "/auth/login", "alice", issAlicePW)
	_, c1 := issParts(t, t1.AccessToken)

	// Rotation with the JSON body.
	r := issRefreshJSON(t, "/auth/refresh", t1.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %s, want 200", r)
	}
	t2 := issDecodeTokens(t, "refresh", r)
	if t2.TokenType != "Bearer" || t2.ExpiresIn != 900 || t2.RefreshExpiresIn != 604800 || t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
		t.Errorf("refresh body %s: want new access and refresh tokens", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("refresh: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	if got := issSetCookie(t, "refresh", r, "access_token"); got != "access_token="+t2.AccessToken+"; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax" {
		t.Errorf("refresh, access cookie %q", got)
	}
	if got := issSetCookie(t, "refresh", r, "access_token_refresh"); got != "access_token_refresh="+t2.RefreshToken+"; Path=/auth/; Max-Age=604800; HttpOnly; Secure; SameSite=Lax" {
		t.Errorf("refresh, refresh cookie %q", got)
	}
	_, c2 := issParts(t, t2.AccessToken)
	if c2["sid"] != c1["sid"] || c2["sub"] != "alice" || c2["role"] != "admin" || c2["jti"] == c1["jti"] {
		t.Errorf("refreshed access claims %v: want the same sid, sub alice, role admin, a new jti", c2)
	}
	wantOK(t, "refreshed access token", get(t, "/", bearer(t2.AccessToken)), "ok alice")
	wantOK(t, "first access token, still valid", get(t, "/", bearer(t1.AccessToken)), "ok alice")

	// Rotation with the cookie.
	r = doRequest(t, http.MethodPost, "/auth/refresh", cookie("access_token_refresh", t2.RefreshToken))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with the cookie: %s, want 200", r)
	}
	t3 := issDecodeTokens(t, "refresh with the cookie", r)
	if !strings.HasPrefix(issSetCookie(t, "cookie refresh", r, "access_token_refresh"), "access_token_refresh="+t3.RefreshToken+";") {
		t.Errorf("refresh with the cookie: new refresh cookie not set: %q", r.Header.Values("Set-Cookie"))
	}

	// Rotation with a form field.
	r = doRequest(t, http.MethodPost, "/auth/refresh", formBody("refresh_token", t3.RefreshToken))
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with a form: %s, want 200", r)
	}
	t3 = issDecodeTokens(t, "refresh with a form", r)

	// Refused refreshes that leave the login alone.
	wantRefused("no refresh token", doRequest(t, http.MethodPost, "/auth/refresh"))
	wantRefused("empty JSON", doRequest(t, http.MethodPost, "/auth/refresh", typedBody("application/json", `{}`)))
	wantRefused("garbage", issRefreshJSON(t, "/auth/refresh", "not.a.token"))
	wantRefused("garbage cookie", doRequest(t, http.MethodPost, "/auth/refresh", cookie("access_token_refresh", "xyz")))
	wantRefused("an access token", issRefreshJSON(t, "/auth/refresh", t3.AccessToken))
	key := issStorageKey(t, storage, "ES256")
	rh3, rc3 := issParts(t, t3.RefreshToken)
	kid := rh3["kid"].(string)
	forge := func(signer any, exp time.Time) string {
		c := jwt.MapClaims{}
		for k, v := range rc3 {
			c[k] = v
		}
		c["iat"], c["nbf"], c["exp"] = exp.Add(-time.Hour).Unix(), exp.Add(-time.Hour).Unix(), exp.Unix()
		return mint(t, jwt.SigningMethodES256, signer, c, map[string]any{"typ": "refresh+jwt", "kid": kid})
	}
	wantRefused("expired (current jti, real key)", issRefreshJSON(t, "/auth/refresh", forge(key, time.Now().Add(-2*time.Hour))))
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wantRefused("signed by another key", issRefreshJSON(t, "/auth/refresh", forge(other, time.Now().Add(time.Hour))))
	wantRefused("form without refresh_token", doRequest(t, http.MethodPost, "/auth/refresh", formBody("x", "y")))
	wantStatus(t, "GET refresh", get(t, "/auth/refresh", cookie("access_token_refresh", t3.RefreshToken)), http.StatusMethodNotAllowed)
	wantStatus(t, "refresh, malformed JSON", issRefreshJSON(t, "/auth/refresh", "x", typedBody("application/json", `{"refresh_token":`)), http.StatusBadRequest)
	wantStatus(t, "refresh, over 64 KiB", issRefreshJSON(t, "/auth/refresh", strings.Repeat("a", 70<<10)), http.StatusRequestEntityTooLarge)
	// None of these spent or revoked the login.
	wantOK(t, "after refused refreshes", get(t, "/", bearer(t3.AccessToken)), "ok alice")

	// Reuse: t1's refresh token was spent. Presenting it revokes the login.
	wantRefused("spent refresh token", issRefreshJSON(t, "/auth/refresh", t1.RefreshToken))
	for label, tok := range map[string]string{"newest access token": t3.AccessToken, "older access token": t2.AccessToken, "first access token": t1.AccessToken} {
		issWantRevoked(t, "after reuse, "+label, get(t, "/", bearer(tok)))
	}
	wantRefused("after reuse, newest refresh token", issRefreshJSON(t, "/auth/refresh", t3.RefreshToken))
	wantRefused("after reuse, newest refresh token again", doRequest(t, http.MethodPost, "/auth/refresh", cookie("access_token_refresh", t3.RefreshToken)))

	// Another login of the same user is not touched, and a new login works.
	t4 := issLogin(t, "/auth/login", "alice", issAlicePW)
	wantOK(t, "new login after reuse", get(t, "/", bearer(t4.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", t4.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("refresh of a new login after reuse: %s", r)
	}
}

// TestIssuerLogout: logout revokes the access token and its login,
// clears both cookies; 204, or 303 to the login page for a form; without
// a valid token it still answers and clears the cookies.
func TestIssuerLogout(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	wantCleared := func(label string, r response) {
		t.Helper()
		if got, want := issSetCookie(t, label, r, "access_token"), "access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"; got != want {
			t.Errorf("%s: access cookie\n got %q\nwant %q", label, got, want)
		}
		if got, want := issSetCookie(t, label, r, "access_token_refresh"), "access_token_refresh=; Path=/auth/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"; got != want {
			t.Errorf("%s: refresh cookie\n got %q\nwant %q", label, got, want)
		}
	}

	a := issLogin(t, "/auth/login", "alice", issAlicePW)
	b := issLogin(t, "/auth/login", "alice", issAlicePW)
	r := doRequest(t, http.MethodPost, "/auth/logout", bearer(a.AccessToken))
	wantStatus(t, "logout", r, http.StatusNoContent)
	wantCleared("logout", r)
	issWantRevoked(t, "access token after logout", get(t, "/", bearer(a.AccessToken)))
	issWantRevoked(t, "access token after logout, in the cookie", get(t, "/", cookie("access_token", a.AccessToken)))
	issWantJSONError(t, "refresh token after logout", issRefreshJSON(t, "/auth/refresh", a.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	// The other login is untouched.
	wantOK(t, "other login after logout", get(t, "/", bearer(b.AccessToken)), "ok alice")

	// Logout by cookie, with a form: 303 to the login page.
	r = doRequest(t, http.MethodPost, "/auth/logout", cookie("access_token", b.AccessToken), formBody())
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Errorf("form logout: %s Location %q, want 303 to /auth/login", r, r.Header.Get("Location"))
	}
	wantCleared("form logout", r)
	issWantRevoked(t, "cookie logout", get(t, "/", bearer(b.AccessToken)))
	issWantJSONError(t, "refresh after cookie logout", issRefreshJSON(t, "/auth/refresh", b.RefreshToken), http.StatusUnauthorized, "invalid_grant")

	// Without a valid token: still 204 (or 303) and cleared cookies.
	for label, opts := range map[string][]reqOpt{
		"no token":           nil,
		"garbage token":      {bearer("garbage")},
		"revoked token":      {bearer(a.AccessToken)},
		"refresh token":      {bearer(b.RefreshToken)},
		"JSON body, none":    {typedBody("application/json", `{}`)},
		"garbage cookie":     {cookie("access_token", "x.y.z")},
		"foreign-key token":  {bearer(issForeignToken(t))},
		"logout twice, same": {bearer(a.AccessToken)},
	} {
		r := doRequest(t, http.MethodPost, "/auth/logout", opts...)
		wantStatus(t, "logout, "+label, r, http.StatusNoContent)
		wantCleared("logout, "+label, r)
	}
	r = doRequest(t, http.MethodPost, "/auth/logout", formBody("x", "1"))
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Errorf("form logout without token: %s, want 303 to /auth/login", r)
	}
	wantCleared("form logout without token", r)
	wantStatus(t, "GET logout", get(t, "/auth/logout"), http.StatusMethodNotAllowed)

	// GET logout does not revoke.
	c := issLogin(t, "/auth/login", "alice", issAlicePW)
	get(t, "/auth/logout", bearer(c.AccessToken))
	wantOK(t, "after GET logout", get(t, "/", bearer(c.AccessToken)), "ok alice")
}

// issForeignToken is a well-formed token signed by a key the server does
// not know.
func issForeignToken(t *testing.T) string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return mint(t, jwt.SigningMethodES256, k, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "jti": "j", "sid": "s"}, nil)
}

// TestIssuerBrowserCycle: a browser (cookie jar; cookie insecure, since the
// test speaks plain http) signs in with the form, uses the site, refreshes
// with the refresh cookie, posts same-origin with the cookie, and signs
// out with the form.
func TestIssuerBrowserCycle(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "cookie {\n\t\t\tinsecure\n\t\t}")))
	b := browserClient(t)
	r := doWith(t, b, http.MethodGet, "/auth/login?return=/members")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `value="/members"`) {
		t.Fatalf("login page: %s", r)
	}
	r = doWith(t, b, http.MethodPost, "/auth/login", formBody("username", "alice", "password", "wrong", "return", "/members"))
	wantStatus(t, "wrong password", r, http.StatusUnauthorized)
	wantStatus(t, "not signed in", doWith(t, b, http.MethodGet, "/members"), http.StatusUnauthorized)

	r = doWith(t, b, http.MethodPost, "/auth/login", formBody("username", "alice", "password", issAlicePW, "return", "/members"))
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/members" {
		t.Fatalf("form login: %s, want 303 to /members", r)
	}
	first := strings.TrimPrefix(strings.SplitN(issSetCookie(t, "login", r, "access_token"), ";", 2)[0], "access_token=")
	wantOK(t, "signed in", doWith(t, b, http.MethodGet, "/members"), "ok alice")
	wantOK(t, "same-origin POST with the cookie", doWith(t, b, http.MethodPost, "/members", formBody("a", "b")), "ok alice")
	wantOK(t, "POST with Origin of the site", doWith(t, b, http.MethodPost, "/members", header("Origin", baseURL), header("Sec-Fetch-Site", "same-origin")), "ok alice")

	// The refresh cookie reaches the refresh path only.
	r = doWith(t, b, http.MethodPost, "/auth/refresh")
	if r.Status != http.StatusOK {
		t.Fatalf("refresh with the browser's cookie: %s", r)
	}
	second := issDecodeTokens(t, "refresh", r).AccessToken
	if second == first {
		t.Errorf("refresh gave the same access token")
	}
	wantOK(t, "after refresh", doWith(t, b, http.MethodGet, "/members"), "ok alice")

	r = doWith(t, b, http.MethodPost, "/auth/logout", formBody())
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/auth/login" {
		t.Errorf("form logout: %s, want 303 to /auth/login", r)
	}
	if r := doWith(t, b, http.MethodGet, "/members"); r.Status != http.StatusUnauthorized || r.Body != "missing" {
		t.Errorf("after logout, the browser: %s, want 401 missing (cookies cleared)", r)
	}
	issWantRevoked(t, "after logout, the last access token", get(t, "/members", bearer(second)))
	issWantRevoked(t, "after logout, the first access token", get(t, "/members", bearer(first)))
	issWantJSONError(t, "after logout, refresh", doWith(t, b, http.MethodPost, "/auth/refresh"), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerCrossOrigin: cross-origin POSTs to login, refresh and logout
// get 403; the guard refuses a cookie-authenticated cross-origin POST with
// 403 and no challenge, but not the same token in Authorization; trusted
// origins are let in.
func TestIssuerCrossOrigin(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash)))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	crossSite := header("Sec-Fetch-Site", "cross-site")
	sameSite := header("Sec-Fetch-Site", "same-site")
	evil := header("Origin", "http://evil.example")

	for label, opts := range map[string][]reqOpt{
		"Sec-Fetch-Site cross-site": {crossSite},
		"Sec-Fetch-Site same-site":  {sameSite},
		"Origin of another host":    {evil},
		"Origin of another port":    {header("Origin", "http://localhost:9081")},
		"Origin null":               {header("Origin", "null")},
	} {
		r := issLoginResp(t, "/auth/login", "alice", issAlicePW, opts...)
		wantStatus(t, "login, "+label, r, http.StatusForbidden)
		issWantNoTokenCookies(t, "login, "+label, r)
		r = doRequest(t, http.MethodPost, "/auth/login", append(opts, formBody("username", "alice", "password", issAlicePW))...)
		wantStatus(t, "form login, "+label, r, http.StatusForbidden)
		issWantNoTokenCookies(t, "form login, "+label, r)
		r = issRefreshJSON(t, "/auth/refresh", tok.RefreshToken, opts...)
		wantStatus(t, "refresh, "+label, r, http.StatusForbidden)
		issWantNoTokenCookies(t, "refresh, "+label, r)
		r = doRequest(t, http.MethodPost, "/auth/logout", append(opts, bearer(tok.AccessToken))...)
		wantStatus(t, "logout, "+label, r, http.StatusForbidden)
		issWantNoTokenCookies(t, "logout, "+label, r)

		// The guard: the cookie on a cross-origin POST is refused, with no
		// challenge; in Authorization it passes.
		r = doRequest(t, http.MethodPost, "/api", append(opts, cookie("access_token", tok.AccessToken))...)
		if r.Status != http.StatusForbidden || r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("guard, cookie, POST, %s: %s, want 403 without WWW-Authenticate", label, r)
		}
		wantOK(t, "guard, Authorization, POST, "+label, doRequest(t, http.MethodPost, "/api", append(opts, bearer(tok.AccessToken))...), "ok alice")
		wantOK(t, "guard, cookie, GET, "+label, doRequest(t, http.MethodGet, "/api", append(opts, cookie("access_token", tok.AccessToken))...), "ok alice")
	}
	// None of the refused refreshes and logouts took effect.
	wantOK(t, "after refused cross-origin logouts", get(t, "/", bearer(tok.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", tok.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("refresh after refused cross-origin refreshes: %s, want 200 (the token was not spent)", r)
	}
	// Same-origin signals pass.
	for label, opts := range map[string][]reqOpt{
		"Origin of the site":           {header("Origin", baseURL)},
		"Sec-Fetch-Site same-origin":   {header("Sec-Fetch-Site", "same-origin"), header("Origin", baseURL)},
		"Sec-Fetch-Site none":          {header("Sec-Fetch-Site", "none")},
		"no Origin, no Sec-Fetch-Site": nil,
	} {
		if r := issLoginResp(t, "/auth/login", "alice", issAlicePW, opts...); r.Status != http.StatusOK {
			t.Errorf("login, %s: %s, want 200", label, r)
		}
		wantOK(t, "guard, cookie, POST, "+label, doRequest(t, http.MethodPost, "/api", append(opts, cookie("access_token", tok.AccessToken))...), "ok alice")
	}

	// trusted_origins.
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash, "trusted_origins https://app.example")))
	app := header("Origin", "https://app.example")
	tok = issLogin(t, "/auth/login", "alice", issAlicePW, app, crossSite)
	wantOK(t, "guard, cookie, POST from the trusted origin", doRequest(t, http.MethodPost, "/api", app, crossSite, cookie("access_token", tok.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", tok.RefreshToken, app, crossSite); r.Status != http.StatusOK {
		t.Errorf("refresh from the trusted origin: %s, want 200", r)
	}
	wantStatus(t, "login from another origin", issLoginResp(t, "/auth/login", "alice", issAlicePW, header("Origin", "https://evil.example")), http.StatusForbidden)
	wantStatus(t, "login from the trusted host over http", issLoginResp(t, "/auth/login", "alice", issAlicePW, header("Origin", "http://app.example"), crossSite), http.StatusForbidden)
	if r := doRequest(t, http.MethodPost, "/api", header("Origin", "https://evil.example"), cookie("access_token", tok.AccessToken)); r.Status != http.StatusForbidden {
		t.Errorf("guard, cookie, POST from another origin: %s, want 403", r)
	}
	wantStatus(t, "logout from the trusted origin", doRequest(t, http.MethodPost, "/auth/logout", app, crossSite, bearer(tok.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "after trusted-origin logout", get(t, "/", bearer(tok.AccessToken)))
}
