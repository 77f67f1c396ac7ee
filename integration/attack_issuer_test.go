package integration

// Attack regressions against the issuer endpoints (issue 6), beside those
// the issuer suite already holds:
//
//	refresh token as access token (header)      TestIssuerLoginJSON; here in every source
//	access token as refresh token               here
//	replay after logout (header, cookie,        TestIssuerLogout, TestIssuerBrowserCycle,
//	  refresh), on another instance             TestIssuerSharedStorage, TestCluster; here after a rotation
//	open redirects on return                    TestIssuerLoginFormRedirects, TestIssuerLoginPage; more here,
//	                                            and the guard's own redirect
//	cross-site POSTs to login, refresh, logout  TestIssuerCrossOrigin, TestCrossOriginPosts; here other
//	  and cookie-authenticated POSTs            unsafe methods and simple (text/plain) requests
//	login timing, unknown vs known users        TestLoginTiming (on demand), BenchmarkLoginTiming

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAttackIssuerTokenKinds: a refresh token never opens the site,
// wherever it is put, and an access token never refreshes.
func TestAttackIssuerTokenKinds(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "from header Authorization", "from cookie access_token", "from query access_token")))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	for label, opt := range map[string]reqOpt{
		"Authorization":       bearer(tok.RefreshToken),
		"access cookie":       cookie("access_token", tok.RefreshToken),
		"query":               func(r *http.Request) { r.URL.RawQuery = "access_token=" + url.QueryEscape(tok.RefreshToken) },
		"Authorization, POST": bearer(tok.RefreshToken),
	} {
		method := http.MethodGet
		if strings.HasSuffix(label, "POST") {
			method = http.MethodPost
		}
		wantInvalid(t, "refresh token as access token, "+label, doRequest(t, method, "/page", opt), "bad_claims", "token type not accepted")
	}
	for label, opt := range map[string]reqOpt{
		"JSON":           jsonBody(map[string]string{"refresh_token": tok.AccessToken}),
		"form":           formBody("refresh_token", tok.AccessToken),
		"refresh cookie": cookie("access_token_refresh", tok.AccessToken),
	} {
		r := doRequest(t, http.MethodPost, "/auth/refresh", opt)
		issWantJSONError(t, "access token as refresh token, "+label, r, http.StatusUnauthorized, "invalid_grant")
		if c := r.Header.Values("Set-Cookie"); strings.Contains(strings.Join(c, ";"), "=ey") {
			t.Errorf("access token as refresh token, %s: Set-Cookie %q, want no token", label, c)
		}
	}
	// Neither attempt spent or revoked anything.
	wantOK(t, "access token afterwards", get(t, "/page", bearer(tok.AccessToken)), "ok alice")
	wantStatus(t, "refresh afterwards", issRefreshJSON(t, "/auth/refresh", tok.RefreshToken), http.StatusOK)
}

// TestAttackIssuerReplayAfterLogout: a logout ends every token of the
// login, including those issued by refreshes before it and the refresh
// tokens already spent; another login of the same user goes on.
func TestAttackIssuerReplayAfterLogout(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	first := issLogin(t, "/auth/login", "alice", issAlicePW)
	other := issLogin(t, "/auth/login", "alice", issAlicePW)
	r := issRefreshJSON(t, "/auth/refresh", first.RefreshToken)
	second := issDecodeTokens(t, "refresh", r)
	wantStatus(t, "logout", doRequest(t, http.MethodPost, "/auth/logout", bearer(second.AccessToken)), http.StatusNoContent)

	for label, tok := range map[string]string{"first access token": first.AccessToken, "second access token": second.AccessToken} {
		issWantRevoked(t, label+", Authorization", get(t, "/", bearer(tok)))
		issWantRevoked(t, label+", cookie", get(t, "/", cookie("access_token", tok)))
		issWantRevoked(t, label+", POST", doRequest(t, http.MethodPost, "/", bearer(tok)))
	}
	for label, tok := range map[string]string{"spent refresh token": first.RefreshToken, "live refresh token": second.RefreshToken} {
		issWantJSONError(t, label, issRefreshJSON(t, "/auth/refresh", tok), http.StatusUnauthorized, "invalid_grant")
		issWantJSONError(t, label+", cookie", doRequest(t, http.MethodPost, "/auth/refresh", cookie("access_token_refresh", tok)), http.StatusUnauthorized, "invalid_grant")
	}
	// A second logout with the revoked token changes nothing and still
	// clears the cookies.
	wantStatus(t, "logout again", doRequest(t, http.MethodPost, "/auth/logout", bearer(second.AccessToken)), http.StatusNoContent)
	wantOK(t, "the other login", get(t, "/", bearer(other.AccessToken)), "ok alice")
	wantStatus(t, "the other login refreshes", issRefreshJSON(t, "/auth/refresh", other.RefreshToken), http.StatusOK)
}

// TestAttackIssuerOpenRedirect: return targets that a browser would take
// off the site, in the form login, the login page and the guard's
// redirect, all end on the site.
func TestAttackIssuerOpenRedirect(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "redirect /auth/login")))
	for _, ret := range []string{
		"/%09/evil.example",
		"/\t/evil.example",
		"/ /evil.example",
		" //evil.example",
		"\\/evil.example",
		"/\\/evil.example",
		"/%5C%5Cevil.example",
		"%2F%2Fevil.example",
		"https:evil.example",
		"HTTPS://evil.example",
		"//evil.example@site",
		"///evil.example",
		"/.//evil.example",
		"/..//evil.example",
		"/a/..//evil.example",
		"//%65vil.example",
		"\x00//evil.example",
		"/\u3002/evil.example",
		"data:text/html,<script>alert(1)</script>",
		"/\x7f/evil.example",
	} {
		label := "return " + strings.ToValidUTF8(ret, "?")
		r := doRequest(t, http.MethodPost, "/auth/login", formBody("username", "alice", "password", issAlicePW, "return", ret))
		loc := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || !attackStaysOnSite(loc) {
			t.Errorf("form login, %s: %s to %q, want 303 on the site", label, r, loc)
		}
		page := get(t, "/auth/login?return="+url.QueryEscape(ret))
		kept := attackReturnField.FindStringSubmatch(page.Body)
		if page.Status != http.StatusOK || kept == nil || !attackStaysOnSite(html.UnescapeString(kept[1])) || strings.Contains(page.Body, "<script>alert") {
			t.Errorf("login page, %s: %s (return field %q), want a return on the site", label, page, kept)
		}
	}

	// The guard's redirect carries the request's own path, escaped, and
	// the login that follows lands on it.
	r := get(t, "//evil.example/%2e%2e/x", header("Accept", "text/html"))
	loc := r.Header.Get("Location")
	u, err := url.Parse(loc)
	if r.Status != http.StatusFound || err != nil || u.Host != "" || u.Path != "/auth/login" {
		t.Fatalf("guard redirect: %s to %q, want 302 to /auth/login", r, loc)
	}
	back := doRequest(t, http.MethodPost, "/auth/login", formBody("username", "alice", "password", issAlicePW, "return", u.Query().Get("return")))
	if l := back.Header.Get("Location"); back.Status != http.StatusSeeOther || !attackStaysOnSite(l) {
		t.Errorf("login from the guard's redirect: %s to %q, want 303 on the site", back, l)
	}
}

// attackReturnField finds the login page's hidden return value.
var attackReturnField = regexp.MustCompile(`name="return" value="([^"]*)"`)

// attackStaysOnSite tells whether a Location resolves, as a browser
// resolves it, to the site itself.
func attackStaysOnSite(loc string) bool {
	base, _ := url.Parse("https://site.example/auth/login")
	u, err := url.Parse(loc)
	return err == nil && base.ResolveReference(u).Host == "site.example" && !strings.ContainsAny(loc, "\\\t\r\n\x00")
}

// TestAttackIssuerCrossSiteMethods: a cookie-borne token on any unsafe
// method from another site is refused, and so is a login sent as a
// simple cross-site request (text/plain, which needs no CORS preflight).
func TestAttackIssuerCrossSiteMethods(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	evil := header("Origin", "https://evil.example")
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete, "PROPFIND"} {
		r := doRequest(t, m, "/api", evil, cookie("access_token", tok.AccessToken))
		if r.Status != http.StatusForbidden || r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s with the cookie from another site: %s, want 403", m, r)
		}
		wantOK(t, m+" with Authorization from another site", doRequest(t, m, "/api", evil, bearer(tok.AccessToken)), "ok alice")
	}
	for label, opts := range map[string][]reqOpt{
		"text/plain login":                  {evil, typedBody("text/plain", `{"username":"alice","password":"`+issAlicePW+`"}`)},
		"form login, Sec-Fetch-Site only":   {header("Sec-Fetch-Site", "cross-site"), formBody("username", "alice", "password", issAlicePW)},
		"logout by form from another site":  {evil, formBody("x", "1"), cookie("access_token", tok.AccessToken)},
		"refresh by cookie from a sub-site": {header("Sec-Fetch-Site", "same-site"), cookie("access_token_refresh", tok.RefreshToken)},
	} {
		path := "/auth/login"
		switch {
		case strings.HasPrefix(label, "logout"):
			path = "/auth/logout"
		case strings.HasPrefix(label, "refresh"):
			path = "/auth/refresh"
		}
		r := doRequest(t, http.MethodPost, path, opts...)
		wantStatus(t, label, r, http.StatusForbidden)
		issWantNoTokenCookies(t, label, r)
	}
	wantOK(t, "the login after the refused requests", get(t, "/api", bearer(tok.AccessToken)), "ok alice")
}
