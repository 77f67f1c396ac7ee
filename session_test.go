package caddyjwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
)

// cookieNamed is the cookie of that name a response sets, or nil.
func cookieNamed(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// jsonLogin signs alice in with JSON and answers the access and refresh
// tokens.
func jsonLogin(t *testing.T, h *Handler) (access, refresh string) {
	t.Helper()
	w := httptest.NewRecorder()
	serveWith(t, h, w, post("/login", "application/json", `{"username":"alice","password":"right"}`))
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return cookieNamed(w, "access_token").Value, cookieNamed(w, "access_token_refresh").Value
}

// refreshWith spends a refresh token at the refresh endpoint.
func refreshWith(t *testing.T, h *Handler, refresh string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	serveWith(t, h, w, post("/refresh", "application/json", `{"refresh_token":"`+refresh+`"}`))
	return w
}

// tokenClaims reads a token's claims without verifying it.
func tokenClaims(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRefreshGrace: a refresh token spent a moment ago refreshes again
// (a second tab) with the same next refresh token, and revokes nothing;
// from refresh_grace on it is reuse and revokes the login. With
// refresh_grace 0s, at once, even within the same millisecond.
func TestRefreshGrace(t *testing.T) {
	clock := faultFreezeClock(t)
	h := loginHandler(t, " refresh_grace 10s\n")
	access, refresh := jsonLogin(t, h)

	first := refreshWith(t, h, refresh)
	clock.offset.Store(int64(9 * time.Second))
	second := refreshWith(t, h, refresh)
	if first.Code != 200 || second.Code != 200 {
		t.Fatalf("tabs racing: %d, %d %s", first.Code, second.Code, second.Body)
	}
	next1 := tokenClaims(t, cookieNamed(first, "access_token_refresh").Value)["jti"]
	next2 := tokenClaims(t, cookieNamed(second, "access_token_refresh").Value)["jti"]
	if next1 != next2 {
		t.Errorf("the racing tab got another next refresh token (%v, %v): one tab would be logged out later", next1, next2)
	}
	if res := serve(t, h, bearer(access)); res.status != 0 {
		t.Errorf("the grace revoked the login: %d", res.status)
	}

	clock.offset.Store(int64(10 * time.Second)) // refresh_grace after the spend: no longer less
	if reuse := refreshWith(t, h, refresh); reuse.Code != 401 {
		t.Fatalf("spent token after the grace: %d %s", reuse.Code, reuse.Body)
	}
	if res := serve(t, h, bearer(access)); res.status != 401 {
		t.Errorf("reuse after the grace did not revoke the login: %d", res.status)
	}
	if late := refreshWith(t, h, cookieNamed(second, "access_token_refresh").Value); late.Code != 401 {
		t.Errorf("the login's newest refresh token after reuse: %d", late.Code)
	}
}

func TestRefreshGraceZero(t *testing.T) {
	faultFreezeClock(t) // one instant: the spend and the reuse in the same millisecond
	h := loginHandler(t, " refresh_grace 0s\n")
	_, refresh := jsonLogin(t, h)
	if w := refreshWith(t, h, refresh); w.Code != 200 {
		t.Fatalf("refresh: %d", w.Code)
	}
	if w := refreshWith(t, h, refresh); w.Code != 401 {
		t.Errorf("refresh_grace 0s, the spent token again in the same instant: %d, want 401", w.Code)
	}
}

// TestRefreshTabsAtOnce: five refreshes of one token at once all succeed
// and the login stays; the token they all got spends once more.
func TestRefreshTabsAtOnce(t *testing.T) {
	h := loginHandler(t, "")
	access, refresh := jsonLogin(t, h)
	codes := make([]int, 5)
	next := make([]string, 5)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			w := refreshWith(t, h, refresh)
			codes[i] = w.Code
			if c := cookieNamed(w, "access_token_refresh"); c != nil {
				next[i] = c.Value
			}
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("tab %d: %d", i, code)
		}
	}
	if res := serve(t, h, bearer(access)); res.status != 0 {
		t.Errorf("tabs racing revoked the login: %d", res.status)
	}
	if w := refreshWith(t, h, next[4]); w.Code != 200 {
		t.Errorf("a tab's refresh token afterwards: %d %s", w.Code, w.Body)
	}
}

// TestSessionTTL: no token or cookie outlives session_ttl from sign-in,
// however often the login is refreshed; after it, the refresh token is
// refused.
func TestSessionTTL(t *testing.T) {
	clock := faultFreezeClock(t)
	h := loginHandler(t, " session_ttl 1h\n access_ttl 15m\n refresh_ttl 40m\n refresh_grace 0s\n")
	start := now().Unix()
	_, refresh := jsonLogin(t, h)
	for _, at := range []time.Duration{30 * time.Minute, 55 * time.Minute} {
		clock.offset.Store(int64(at))
		w := refreshWith(t, h, refresh)
		if w.Code != 200 {
			t.Fatalf("refresh at %s: %d %s", at, w.Code, w.Body)
		}
		access, refreshCookie := cookieNamed(w, "access_token"), cookieNamed(w, "access_token_refresh")
		refresh = refreshCookie.Value
		for name, tok := range map[string]string{"access": access.Value, "refresh": refresh} {
			if exp := int64(tokenClaims(t, tok)["exp"].(float64)); exp > start+3600 {
				t.Errorf("%s token at %s: exp %d s after sign-in, past session_ttl", name, at, exp-start)
			}
		}
		left := int(time.Hour - at.Truncate(time.Second) + time.Second) // Max-Age is whole seconds
		if access.MaxAge > left/int(time.Second) || refreshCookie.MaxAge > left/int(time.Second) {
			t.Errorf("cookies at %s: Max-Age %d and %d, past session_ttl", at, access.MaxAge, refreshCookie.MaxAge)
		}
	}
	clock.offset.Store(int64(time.Hour + time.Second))
	if w := refreshWith(t, h, refresh); w.Code != 401 {
		t.Errorf("refresh after session_ttl: %d", w.Code)
	}
}

// loginGET is a browser's GET of the login page with cookies.
func loginGET(target string, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com"+target, nil)
	r.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// TestLoginPageResumes: GET <login> with a valid refresh cookie rotates
// it and sends the browser back with both cookies; without one, or with
// a bad one, it shows the form; a browser sent back too often in a short
// time gets the form with a message instead of a loop.
func TestLoginPageResumes(t *testing.T) {
	h := loginHandler(t, "")
	_, refresh := jsonLogin(t, h)
	cookie := &http.Cookie{Name: "access_token_refresh", Value: refresh}

	w := httptest.NewRecorder()
	serveWith(t, h, w, loginGET("/login?return=%2Fdocs%3Fp%3D1", cookie))
	if w.Code != 303 || w.Header().Get("Location") != "/docs?p=1" {
		t.Fatalf("resume: %d %q", w.Code, w.Header().Get("Location"))
	}
	access, next, count := cookieNamed(w, "access_token"), cookieNamed(w, "access_token_refresh"), cookieNamed(w, "access_token_resumed")
	if access == nil || next == nil || next.Value == refresh || count == nil || count.Value != "1" || count.Path != "/login" {
		t.Fatalf("resume cookies: %v", w.Header()["Set-Cookie"])
	}
	if res := serve(t, h, bearer(access.Value)); res.status != 0 {
		t.Errorf("the resumed access token: %d", res.status)
	}

	for name, r := range map[string]*http.Request{
		"no cookie":    loginGET("/login"),
		"bad cookie":   loginGET("/login", &http.Cookie{Name: "access_token_refresh", Value: "a.b.c"}),
		"return login": loginGET("/login?return=/login", &http.Cookie{Name: "access_token_refresh", Value: "a.b.c"}),
	} {
		w := httptest.NewRecorder()
		serveWith(t, h, w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) {
			t.Errorf("%s: %d, want the form", name, w.Code)
		}
		if strings.Contains(w.Body.String(), `value="/login"`) {
			t.Errorf("%s: the form returns to the login page itself", name)
		}
	}

	looping := httptest.NewRecorder()
	serveWith(t, h, looping, loginGET("/login?return=/docs", next, &http.Cookie{Name: "access_token_resumed", Value: "4"}))
	if looping.Code != 200 || !strings.Contains(looping.Body.String(), "did not accept") {
		t.Errorf("looping browser: %d, want the form with a message", looping.Code)
	}
	if c := cookieNamed(looping, "access_token_resumed"); c == nil || c.MaxAge >= 0 {
		t.Errorf("looping browser: the count is not cleared: %v", looping.Header()["Set-Cookie"])
	}
}

// TestLogoutFromRefreshCookie: a logout carrying only the refresh cookie
// (the access token expired) ends the login.
func TestLogoutFromRefreshCookie(t *testing.T) {
	h := loginHandler(t, "")
	access, refresh := jsonLogin(t, h)
	r := post("/logout", "", "")
	r.AddCookie(&http.Cookie{Name: "access_token_refresh", Value: refresh})
	w := httptest.NewRecorder()
	serveWith(t, h, w, r)
	if w.Code != 204 {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := refreshWith(t, h, refresh); w.Code != 401 {
		t.Errorf("refresh after logout: %d", w.Code)
	}
	if res := serve(t, h, bearer(access)); res.status != 401 {
		t.Errorf("the login's access token after logout: %d", res.status)
	}
}

// TestReturnTarget: where the login sends a browser back to.
func TestReturnTarget(t *testing.T) {
	h := loginHandler(t, " issuer https://auth.example.com\n trusted_return https://app.example.com https://*.example.org http://dev.localhost:8080\n")
	for in, want := range map[string]string{
		"/docs?a=1":                            "/docs?a=1",
		"":                                     "/",
		"/login":                               "/",
		"/login?return=/x":                     "/",
		"/login/":                              "/",
		"https://app.example.com/page?q=1#top": "https://app.example.com/page?q=1#top",
		"https://APP.example.com/":             "https://APP.example.com/",
		"https://app.example.com:443/x":        "https://app.example.com:443/x",
		"https://app.example.com:8443/x":       "/",
		"http://app.example.com/x":             "/",
		"https://evil.example.com/x":           "/",
		"https://a.b.example.org/x":            "https://a.b.example.org/x",
		"https://example.org/x":                "/",
		"https://evilexample.org/x":            "/",
		"http://dev.localhost:8080/x":          "http://dev.localhost:8080/x",
		"http://dev.localhost/x":               "/",
		"https://user@app.example.com/x":       "/",
		"https://app.example.com\\@evil.com/":  "/",
		"//app.example.com/x":                  "/",
		"javascript:alert(1)":                  "/",
		"https://auth.example.com/login":       "/",
	} {
		if got := h.issuer.returnTarget(in); got != want {
			t.Errorf("returnTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoginPageFormAction: the page's CSP lets the form's redirect reach
// the trusted_return origins, and no others.
func TestLoginPageFormAction(t *testing.T) {
	h := loginHandler(t, " trusted_return https://app.example.com https://*.example.org\n")
	w := httptest.NewRecorder()
	serveWith(t, h, w, loginGET("/login?return="+url.QueryEscape("https://app.example.com/x")))
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://app.example.com https://*.example.org;") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(w.Body.String(), `value="https://app.example.com/x"`) {
		t.Errorf("the form does not keep a trusted return")
	}
}

// FuzzReturnTarget: whatever return a browser brings, the login sends it
// to a local path that safeReturn keeps, or to an absolute URL on a
// trusted origin — never to the login page itself.
func FuzzReturnTarget(f *testing.F) {
	for _, seed := range []string{"/docs", "https://app.example.com/x", "https://a.example.org/", "//evil", "/login", "https://app.example.com@evil/",
		"https://app.example.com\\.evil/", "https://app.example.com%2f@evil/", "http://app.example.com/", "https://auth.example.com/login?x"} {
		f.Add(seed)
	}
	h := loginHandler(f, " issuer https://auth.example.com\n trusted_return https://app.example.com https://*.example.org\n")
	f.Fuzz(func(t *testing.T, in string) {
		got := h.issuer.returnTarget(in)
		if strings.HasPrefix(got, "/") {
			if safeReturn(got) != got || h.issuer.isLoginPath(got) {
				t.Fatalf("returnTarget(%q) = %q: not a safe local path", in, got)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || !h.issuer.returnOrigins.trusts(u) || u.User != nil || strings.ContainsRune(got, '\\') {
			t.Fatalf("returnTarget(%q) = %q: not on a trusted origin", in, got)
		}
	})
}

// TestRequestOriginBehindProxy: X-Forwarded-Proto names the scheme of the
// page's absolute return URL only when Caddy trusts the proxy that sent
// it.
func TestRequestOriginBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		trusted bool
		proto   string
		want    string
	}{
		{false, "", "http://app.example.com"},
		{false, "https", "http://app.example.com"},
		{true, "https", "https://app.example.com"},
		{true, "HTTPS ", "https://app.example.com"},
		{true, "gopher", "http://app.example.com"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com/x", nil)
		ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: tc.trusted})
		r = r.WithContext(ctx)
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		if got := requestOrigin(r); got != tc.want {
			t.Errorf("trusted %v, X-Forwarded-Proto %q: %s, want %s", tc.trusted, tc.proto, got, tc.want)
		}
	}
}

// TestLoginPageResumesInParallel: the same automatic sign-in 40 times at
// once (a browser restoring its tabs) signs every one in, through the
// grace, and revokes nothing.
func TestLoginPageResumesInParallel(t *testing.T) {
	h := loginHandler(t, "")
	access, refresh := jsonLogin(t, h)
	codes := make([]int, 40)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			w := httptest.NewRecorder()
			serveWith(t, h, w, loginGET("/login?return=/x", &http.Cookie{Name: "access_token_refresh", Value: refresh}))
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusSeeOther {
			t.Errorf("sign-in %d of 40: %d, want 303", i, code)
		}
	}
	if res := serve(t, h, bearer(access)); res.status != 0 {
		t.Errorf("40 sign-ins at once revoked the login: %d", res.status)
	}
}
