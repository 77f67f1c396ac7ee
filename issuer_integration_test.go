package caddyjwt_test

// Black-box integration tests of the issuer: a real Caddy in-process (one
// per test binary, admin localhost:2999, http_port 9080) loaded with a
// Caddyfile per test, each with a file_system storage of its own, and HTTP
// over loopback. The restart test runs the built binary twice.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issAlicePW = "alice-correct-horse"
	issBobPW   = "bob-battery-staple"
)

// issStdLines is a jwt_auth block with every endpoint.
func issStdLines(extra ...string) []string {
	return append([]string{
		"key auto",
		"login /auth/login",
		"refresh /auth/refresh",
		"logout /auth/logout",
		"jwks_endpoint /.well-known/jwks.json",
	}, extra...)
}

// TestIssuerLoginJSON logs in with JSON and checks the answer, the
// cookies, the tokens' headers and claims, and that the guard takes the
// access token (header and cookie) but not the refresh token.
func TestIssuerLoginJSON(t *testing.T) {
	dir := t.TempDir()
	users := issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{
			"password": bcryptHash(t, issAlicePW),
			"claims": map[string]any{
				"role": "admin", "groups": []string{"a", "b"},
				// registered claims a users file must not override
				"iss": "https://evil.example", "sub": "mallory", "aud": "evil",
				"iat": 1, "nbf": 1, "exp": 4102444800, "jti": "fixed-jti", "sid": "fixed-sid",
			},
		},
		"carol": map[string]any{"password": issArgon2Hash},
	})
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("users_file "+users, "user bob "+bcryptHash(t, issBobPW), "login_limit 100 1m")))

	before := time.Now().Unix()
	// A charset parameter on the content type is fine.
	r := doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json; charset=utf-8",
		fmt.Sprintf(`{"username":"alice","password":%q}`, issAlicePW)))
	if r.Status != http.StatusOK {
		t.Fatalf("JSON login: %s, want 200", r)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("login body %q: %v", r.Body, err)
	}
	var keys []string
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type"}; !slices.Equal(keys, want) {
		t.Errorf("login body fields %v, want %v", keys, want)
	}
	tok := issDecodeTokens(t, "login", r)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.RefreshExpiresIn != 604800 || tok.RefreshToken == "" {
		t.Errorf("login body %s: want token_type Bearer, expires_in 900, refresh_expires_in 604800 and a refresh token", r.Body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("login: %s %q, want %q", h, got, want)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("login: Content-Type %q", ct)
	}

	// Cookies, with their default flags.
	if got, want := issSetCookie(t, "login", r, "access_token"),
		"access_token="+tok.AccessToken+"; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax"; got != want {
		t.Errorf("access cookie:\n got %q\nwant %q", got, want)
	}
	if got, want := issSetCookie(t, "login", r, "access_token_refresh"),
		"access_token_refresh="+tok.RefreshToken+"; Path=/auth/refresh; Max-Age=604800; HttpOnly; Secure; SameSite=Strict"; got != want {
		t.Errorf("refresh cookie:\n got %q\nwant %q", got, want)
	}

	// The access token.
	ah, ac := issParts(t, tok.AccessToken)
	if ah["alg"] != "ES256" || ah["typ"] != "JWT" {
		t.Errorf("access token header %v: want alg ES256, typ JWT", ah)
	}
	kid, _ := ah["kid"].(string)
	if kid == "" {
		t.Errorf("access token header %v: no kid", ah)
	}
	for name, want := range map[string]any{"iss": baseURL, "sub": "alice", "role": "admin"} {
		if ac[name] != want {
			t.Errorf("access claim %s = %#v, want %#v", name, ac[name], want)
		}
	}
	if g, _ := ac["groups"].([]any); len(g) != 2 || g[0] != "a" || g[1] != "b" {
		t.Errorf("access claim groups = %#v, want [a b]", ac["groups"])
	}
	if _, has := ac["aud"]; has {
		t.Errorf("access claim aud = %#v without an audience configured", ac["aud"])
	}
	iat, nbf, exp := issInt(t, "access", ac, "iat"), issInt(t, "access", ac, "nbf"), issInt(t, "access", ac, "exp")
	if iat < before-1 || iat > time.Now().Unix()+1 || nbf > iat || exp-iat != 900 {
		t.Errorf("access iat %d nbf %d exp %d: want iat now, nbf ≤ iat, exp = iat+900", iat, nbf, exp)
	}
	jti, _ := ac["jti"].(string)
	sid, _ := ac["sid"].(string)
	if len(jti) < 22 || jti == "fixed-jti" { // 128 bits are at least 22 base64 or 26 base32 characters
		t.Errorf("access jti %q: want ≥128 random bits, not the users file's", jti)
	}
	if sid == "" || sid == "fixed-sid" {
		t.Errorf("access sid %q: want the login's id, not the users file's", sid)
	}

	// The refresh token.
	rh, rc := issParts(t, tok.RefreshToken)
	if rh["alg"] != "ES256" || rh["typ"] != "refresh+jwt" || rh["kid"] != kid {
		t.Errorf("refresh token header %v: want alg ES256, typ refresh+jwt, kid %q", rh, kid)
	}
	if rc["sid"] != sid || rc["sub"] != "alice" || rc["iss"] != baseURL || rc["jti"] == jti || rc["jti"] == "" {
		t.Errorf("refresh claims %v: want sid %q, sub alice, iss %s, a jti of its own", rc, sid, baseURL)
	}
	if riat, rexp := issInt(t, "refresh", rc, "iat"), issInt(t, "refresh", rc, "exp"); rexp-riat != 604800 {
		t.Errorf("refresh iat %d exp %d: want exp = iat+604800", riat, rexp)
	}

	// The guard takes the access token from the header and the cookie.
	wantOK(t, "access token in Authorization", get(t, "/page", bearer(tok.AccessToken)), "ok alice")
	wantOK(t, "access token in the cookie", get(t, "/page", cookie("access_token", tok.AccessToken)), "ok alice")
	// ...but never the refresh token as an access token.
	if r := get(t, "/page", bearer(tok.RefreshToken)); r.Status != http.StatusUnauthorized ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("refresh token as access token: %s, want 401 invalid_token", r)
	}

	// Two logins: distinct tokens and login ids.
	tok2 := issLogin(t, "/auth/login", "alice", issAlicePW)
	_, ac2 := issParts(t, tok2.AccessToken)
	if ac2["jti"] == jti || ac2["sid"] == sid {
		t.Errorf("second login reuses jti or sid: %v", ac2)
	}

	// Config users (bcrypt) and argon2id users from the file log in too.
	bob := issLogin(t, "/auth/login", "bob", issBobPW)
	wantOK(t, "bob", get(t, "/", bearer(bob.AccessToken)), "ok bob")
	carol := issLogin(t, "/auth/login", "carol", issArgon2Password)
	wantOK(t, "carol (argon2id)", get(t, "/", bearer(carol.AccessToken)), "ok carol")
	issWantJSONError(t, "carol, wrong password", issLoginResp(t, "/auth/login", "carol", issArgon2Password+"x"), 401, "invalid_credentials")
}

// TestIssuerIssuerAudience: the first issuer and the first audience are
// written into issued tokens, which the guard then accepts; discovery
// names that issuer.
func TestIssuerIssuerAudience(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines(
		"issuer https://auth.example https://other.example",
		"audience api web",
		"user alice "+bcryptHash(t, issAlicePW))))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	_, c := issParts(t, tok.AccessToken)
	if c["iss"] != "https://auth.example" {
		t.Errorf("iss = %#v, want https://auth.example", c["iss"])
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud != "api" {
			t.Errorf("aud = %q, want api", aud)
		}
	case []any:
		if len(aud) != 1 || aud[0] != "api" {
			t.Errorf("aud = %v, want api", aud)
		}
	default:
		t.Errorf("aud = %#v, want api", c["aud"])
	}
	_, rc := issParts(t, tok.RefreshToken)
	if rc["iss"] != "https://auth.example" {
		t.Errorf("refresh iss = %#v, want https://auth.example", rc["iss"])
	}
	wantOK(t, "issued token", get(t, "/", bearer(tok.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", tok.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("refresh with issuer and audience set: %s, want 200", r)
	}

	r := get(t, "/.well-known/openid-configuration")
	var disc map[string]string
	if err := json.Unmarshal([]byte(r.Body), &disc); r.Status != 200 || err != nil ||
		disc["issuer"] != "https://auth.example" || !strings.HasSuffix(disc["jwks_uri"], "/.well-known/jwks.json") {
		t.Errorf("discovery: %s, want issuer https://auth.example and the jwks_uri", r)
	}
}

// TestIssuerLoginFailures: every refused login, JSON and form, and every
// malformed request.
func TestIssuerLoginFailures(t *testing.T) {
	dir := t.TempDir()
	long72 := strings.Repeat("p", 72)
	users := issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": bcryptHash(t, issAlicePW)},
		"dave":  map[string]any{"password": bcryptHash(t, "dave-pw"), "disabled": true},
		"long":  map[string]any{"password": bcryptHash(t, long72)},
	})
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("users_file "+users, "login_limit 1000 1m")))

	for _, tc := range []struct {
		label, body string
	}{
		{"wrong password", `{"username":"alice","password":"wrong"}`},
		{"unknown user", `{"username":"nobody","password":"` + issAlicePW + `"}`},
		{"disabled user, right password", `{"username":"dave","password":"dave-pw"}`},
		{"empty password", `{"username":"alice","password":""}`},
		{"empty user name", `{"username":"","password":"` + issAlicePW + `"}`},
		{"no fields", `{}`},
		{"bcrypt password over 72 bytes, first 72 right", `{"username":"long","password":"` + long72 + `x"}`},
		{"user name in other case", `{"username":"Alice","password":"` + issAlicePW + `"}`},
	} {
		r := doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", tc.body))
		issWantJSONError(t, tc.label, r, http.StatusUnauthorized, "invalid_credentials")
		issWantNoTokenCookies(t, tc.label, r)
	}
	// The 72-byte password itself is fine.
	issLogin(t, "/auth/login", "long", long72)

	// Form: the login page again, 401, with the message; the user name is
	// escaped, the return target kept.
	r := doRequest(t, http.MethodPost, "/auth/login", formBody("username", `<script>alert(1)</script>`, "password", "wrong", "return", "/app"))
	wantStatus(t, "form, wrong password", r, http.StatusUnauthorized)
	issWantNoTokenCookies(t, "form, wrong password", r)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Body, "<form") ||
		!strings.Contains(r.Body, "Wrong user name or password") || !strings.Contains(r.Body, `value="/app"`) {
		t.Errorf("form, wrong password: %s, want the login page with the message and return /app", r)
	}
	if strings.Contains(r.Body, "<script>alert(1)</script>") {
		t.Errorf("form, wrong password: the user name is echoed unescaped")
	}
	if r.Header.Get("X-Frame-Options") != "DENY" || r.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("form, wrong password: the page lacks its security headers: %v", r.Header)
	}
	r = doRequest(t, http.MethodPost, "/auth/login", formBody("username", "dave", "password", "dave-pw"))
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong user name or password") {
		t.Errorf("form, disabled user: %s, want 401 with the login page", r)
	}

	// Malformed requests.
	big := fmt.Sprintf(`{"username":"alice","password":%q}`, strings.Repeat("x", 70<<10))
	wantStatus(t, "body over 64 KiB", doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", big)), http.StatusRequestEntityTooLarge)
	wantStatus(t, "form body over 64 KiB", doRequest(t, http.MethodPost, "/auth/login",
		typedBody("application/x-www-form-urlencoded", "username=alice&password="+strings.Repeat("x", 70<<10))), http.StatusRequestEntityTooLarge)
	wantStatus(t, "text/plain", doRequest(t, http.MethodPost, "/auth/login", typedBody("text/plain", "username=alice")), http.StatusUnsupportedMediaType)
	wantStatus(t, "multipart", doRequest(t, http.MethodPost, "/auth/login", typedBody("multipart/form-data; boundary=x", "--x--")), http.StatusUnsupportedMediaType)
	wantStatus(t, "no content type", doRequest(t, http.MethodPost, "/auth/login", typedBody("", `{"username":"alice"}`)), http.StatusUnsupportedMediaType)
	wantStatus(t, "malformed JSON", doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", `{"username":"alice",`)), http.StatusBadRequest)
	wantStatus(t, "form with a bad escape", doRequest(t, http.MethodPost, "/auth/login", typedBody("application/x-www-form-urlencoded", "username=alice&password=%zz")), http.StatusBadRequest)
	wantStatus(t, "JSON with a number for the user name", doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", `{"username":1,"password":"x"}`)), http.StatusBadRequest)
	wantStatus(t, "JSON of the wrong shape", doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", `["alice"]`)), http.StatusBadRequest)
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		r := doRequest(t, m, "/auth/login", jsonBody(map[string]string{"username": "alice", "password": issAlicePW}))
		wantStatus(t, m+" login", r, http.StatusMethodNotAllowed)
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "GET") {
			t.Errorf("%s login: 405 with Allow %q, want GET and POST listed (RFC 9110)", m, allow)
		}
		issWantNoTokenCookies(t, m+" login", r)
	}
	// None of these was a login: alice still logs in.
	issLogin(t, "/auth/login", "alice", issAlicePW)
}

// TestIssuerLoginStrictJSON: a JSON body with anything after the object
// is not a JSON text (RFC 8259) and so "does not parse": 400, not a login.
func TestIssuerLoginStrictJSON(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "login_limit 100 1m")))
	good := fmt.Sprintf(`{"username":"alice","password":%q}`, issAlicePW)
	for label, body := range map[string]string{
		"trailing garbage":  good + "garbage",
		"two objects":       good + `{"username":"bob"}`,
		"trailing bracket":  good + "]",
		"trailing comma":    good + ",",
		"object then array": good + "[]",
	} {
		r := doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", body))
		if r.Status != http.StatusBadRequest {
			t.Errorf("login, JSON body with %s: %s, want 400 (the body is not one JSON value)", label, r)
		}
	}
	// Whitespace around the object is fine.
	if r := doRequest(t, http.MethodPost, "/auth/login", typedBody("application/json", " \n"+good+"\n ")); r.Status != http.StatusOK {
		t.Errorf("login, JSON body with whitespace around it: %s, want 200", r)
	}
}

// TestIssuerRefreshRace: one refresh token sent by several clients at once
// is spent once: exactly one gets new tokens, the others are refused as
// reuse, and the login is revoked.
func TestIssuerRefreshRace(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
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

// TestIssuerLoginPage: GET on the login path shows the page with its
// security headers, keeping only a local return target.
func TestIssuerLoginPage(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	for _, tc := range []struct{ ret, want string }{
		{"/app/page?x=1", `value="/app/page?x=1"`},
		{"", `value="/"`},
		{"//evil.example", `value="/"`},
		{"https://evil.example/", `value="/"`},
		{"javascript:alert(1)", `value="/"`},
	} {
		r := get(t, "/auth/login?return="+url.QueryEscape(tc.ret))
		label := "login page, return " + tc.ret
		wantStatus(t, label, r, http.StatusOK)
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: %s %q, want %q", label, h, got, want)
			}
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src") {
			t.Errorf("%s: Content-Security-Policy %q", label, csp)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Body, `action="/auth/login"`) ||
			!strings.Contains(r.Body, `name="username"`) || !strings.Contains(r.Body, `name="password"`) ||
			!strings.Contains(r.Body, `name="return"`) || !strings.Contains(r.Body, tc.want) {
			t.Errorf("%s: %s, want the login form with hidden return %s", label, r, tc.want)
		}
		issWantNoTokenCookies(t, label, r)
	}
	// A local target holding markup is escaped.
	r := get(t, "/auth/login?return="+url.QueryEscape(`/"><script>alert(1)</script>`))
	if r.Status != http.StatusOK || strings.Contains(r.Body, "<script>alert(1)</script>") {
		t.Errorf("login page with markup in return: %s, want it escaped", r)
	}

	// login_page replaces the built-in page.
	page := filepath.Join(t.TempDir(), "login.html")
	issWrite(t, page, []byte(`<!doctype html><p>CUSTOM PAGE</p><form method="post" action="{{.Action}}"><input type="hidden" name="return" value="{{.Return}}"><p>{{.Error}}</p></form>`))
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW), "login_page "+page)))
	r = get(t, "/auth/login?return=/docs")
	if r.Status != 200 || !strings.Contains(r.Body, "CUSTOM PAGE") || !strings.Contains(r.Body, `action="/auth/login"`) ||
		!strings.Contains(r.Body, `value="/docs"`) || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("login_page: %s, want the custom page with action and return", r)
	}
	r = doRequest(t, http.MethodPost, "/auth/login", formBody("username", "alice", "password", "nope"))
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "CUSTOM PAGE") || strings.Contains(r.Body, "<p></p>") {
		t.Errorf("login_page, failed login: %s, want 401 with the custom page and a message", r)
	}
}

// TestIssuerLoginFormRedirects: a form login goes to return when it is a
// local path, else to /; every open-redirect trick lands on /.
func TestIssuerLoginFormRedirects(t *testing.T) {
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+bcryptHash(t, issAlicePW))))
	for _, tc := range []struct{ ret, want string }{
		{"/ok?x=1", "/ok?x=1"},
		{"/app/page", "/app/page"},
		{"", "/"},
		{"//evil.example", "/"},
		{"//evil.example/path", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{"https://evil.example", "/"},
		{baseURL + "/ok", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%2f/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/\t/evil.example", "/"},
		{"/\r\nLocation: https://evil.example", "/"},
		{"evil.example", "/"},
	} {
		label := fmt.Sprintf("form login, return %q", tc.ret)
		r := doRequest(t, http.MethodPost, "/auth/login", formBody("username", "alice", "password", issAlicePW, "return", tc.ret))
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != tc.want {
			t.Errorf("%s: %s Location %q, want 303 to %q", label, r, r.Header.Get("Location"), tc.want)
			continue
		}
		access := issSetCookie(t, label, r, "access_token")
		refresh := issSetCookie(t, label, r, "access_token_refresh")
		if !strings.HasPrefix(access, "access_token=ey") || !strings.Contains(refresh, "; Path=/auth/refresh;") {
			t.Errorf("%s: cookies %q, want the access and refresh cookies", label, r.Header.Values("Set-Cookie"))
		}
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
		"sess_refresh="+tok.RefreshToken+"; Path=/auth/refresh; Domain=example.test; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"; got != want {
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
	if got, want := issSetCookie(t, "logout", r, "sess_refresh"), "sess_refresh=; Path=/auth/refresh; Domain=example.test; Max-Age=0; HttpOnly; Secure; SameSite=Strict"; got != want {
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
	if got := issSetCookie(t, "login", r, "access_token_refresh"); !strings.HasSuffix(got, "; HttpOnly; Secure; SameSite=Strict") {
		t.Errorf("same_site none, refresh cookie %q: want SameSite=Strict still", got)
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
			!strings.Contains(got, "Path=/auth/refresh") {
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
	if got := issSetCookie(t, "refresh", r, "access_token_refresh"); got != "access_token_refresh="+t2.RefreshToken+"; Path=/auth/refresh; Max-Age=604800; HttpOnly; Secure; SameSite=Strict" {
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
		if got, want := issSetCookie(t, label, r, "access_token_refresh"), "access_token_refresh=; Path=/auth/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict"; got != want {
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

// TestIssuerRateLimit: failed logins per client IP and per user name (the
// client IP from X-Forwarded-For, the proxy being trusted), 429 with
// Retry-After before the password is checked; successes do not count.
func TestIssuerRateLimit(t *testing.T) {
	trusted := "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32 ::1/128\n\t}"
	hash := bcryptHash(t, issAlicePW)
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash, "user bob "+bcryptHash(t, issBobPW)), trusted))
	from := func(ip string) reqOpt { return header("X-Forwarded-For", ip) }

	// Per client IP: five failures with five user names.
	for i := range 5 {
		r := issLoginResp(t, "/auth/login", fmt.Sprintf("nobody%d", i), "x", from("10.0.0.1"))
		issWantJSONError(t, fmt.Sprintf("failure %d from 10.0.0.1", i+1), r, http.StatusUnauthorized, "invalid_credentials")
	}
	issWantRetryAfter(t, "right password from 10.0.0.1 over the limit", issLoginResp(t, "/auth/login", "alice", issAlicePW, from("10.0.0.1")), 60)
	issWantRetryAfter(t, "form login from 10.0.0.1 over the limit", doRequest(t, http.MethodPost, "/auth/login",
		formBody("username", "bob", "password", issBobPW), from("10.0.0.1")), 60)
	issLogin(t, "/auth/login", "alice", issAlicePW, from("10.0.0.2"))

	// Per user name: five failures for bob from five addresses.
	for i := range 5 {
		r := issLoginResp(t, "/auth/login", "bob", "wrong", from(fmt.Sprintf("10.0.1.%d", i+1)))
		issWantJSONError(t, fmt.Sprintf("bob failure %d", i+1), r, http.StatusUnauthorized, "invalid_credentials")
	}
	issWantRetryAfter(t, "bob, right password, new address", issLoginResp(t, "/auth/login", "bob", issBobPW, from("10.0.1.9")), 60)
	issLogin(t, "/auth/login", "alice", issAlicePW, from("10.0.1.10"))

	// Successes do not count.
	for i := range 7 {
		if r := issLoginResp(t, "/auth/login", "alice", issAlicePW, from("10.0.2.1")); r.Status != http.StatusOK {
			t.Fatalf("success %d from one address: %s, want 200", i+1, r)
		}
	}
	// The loopback address itself (no X-Forwarded-For) is not limited.
	issLogin(t, "/auth/login", "alice", issAlicePW)

	// Without trusted proxies, the connection's address (not its port:
	// every request here is a new connection) is the client IP. A short
	// window: the limit lifts after Retry-After.
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash, "login_limit 1 1s")))
	issWantJSONError(t, "one failure", issLoginResp(t, "/auth/login", "nobody", "wrong"), http.StatusUnauthorized, "invalid_credentials")
	wait := issWantRetryAfter(t, "limit 1 1s, another user from the same address", issLoginResp(t, "/auth/login", "alice", issAlicePW), 1)
	time.Sleep(time.Duration(wait)*time.Second + 100*time.Millisecond)
	issLogin(t, "/auth/login", "alice", issAlicePW)
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

// TestIssuerJWKS: key auto keeps its key in the storage, the JWKS lists
// its public half (never an HMAC secret), discovery points to it, and a
// second config load on the same storage keeps the key and the
// revocations.
func TestIssuerJWKS(t *testing.T) {
	storage := t.TempDir()
	hash := bcryptHash(t, issAlicePW)
	const secret = "this-hmac-secret-must-never-be-published-0123456789"
	startCaddy(t, guardConfigIn(storage, issStdLines("user alice "+hash, "secret "+secret)))

	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	h, _ := issParts(t, tok.AccessToken)
	kid, _ := h["kid"].(string)
	if h["alg"] != "ES256" || kid == "" {
		t.Fatalf("with key auto and a secret, token header %v: want ES256 with a kid (the private key signs)", h)
	}

	r := get(t, "/.well-known/jwks.json")
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=300" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS: %s Cache-Control %q Content-Type %q", r, r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"))
	}
	if strings.Contains(r.Body, secret) || strings.Contains(r.Body, `"oct"`) || strings.Contains(r.Body, `"k"`) || strings.Contains(r.Body, `"d"`) {
		t.Errorf("JWKS publishes a secret or private part: %s", r.Body)
	}
	var set struct{ Keys []issJWK }
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: want one key (%v)", r.Body, err)
	}
	jk := set.Keys[0]
	if jk.Kid != kid || jk.Alg != "ES256" || jk.Use != "sig" || jk.Kty != "EC" || jk.Crv != "P-256" {
		t.Errorf("JWKS key %+v: want kid %q, alg ES256, use sig, EC P-256", jk, kid)
	}
	if tp := issThumbprintEC(jk); tp != kid {
		t.Errorf("key auto kid %q, want the RFC 7638 thumbprint %q", kid, tp)
	}
	pub := issPublicKey(t, jk)
	issVerifyWith(t, "access token", tok.AccessToken, pub)
	issVerifyWith(t, "refresh token", tok.RefreshToken, pub)
	// The key is the one kept in the storage.
	stored := issStorageKey(t, storage, "ES256")
	if sp, ok := stored.Public().(*ecdsa.PublicKey); !ok || !sp.Equal(pub) {
		t.Errorf("caddyjwt/keys/auto-es256.pem holds another key than the JWKS")
	}
	wantStatus(t, "POST JWKS", doRequest(t, http.MethodPost, "/.well-known/jwks.json", typedBody("application/json", "{}")), http.StatusMethodNotAllowed)

	r = get(t, "/.well-known/openid-configuration")
	var disc map[string]any
	if err := json.Unmarshal([]byte(r.Body), &disc); r.Status != 200 || err != nil || len(disc) != 2 ||
		disc["issuer"] != baseURL || disc["jwks_uri"] != baseURL+"/.well-known/jwks.json" {
		t.Errorf("discovery: %s, want {issuer: %s, jwks_uri: %[2]s/.well-known/jwks.json}", r, baseURL)
	}

	// Revoke one login, keep another, then load another config on the same
	// storage.
	kept := issLogin(t, "/auth/login", "alice", issAlicePW)
	wantStatus(t, "logout", doRequest(t, http.MethodPost, "/auth/logout", bearer(tok.AccessToken)), http.StatusNoContent)
	startCaddy(t, guardConfigIn(storage, issStdLines("user alice "+hash, "access_ttl 10m")))
	again := issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, again.AccessToken); h["kid"] != kid {
		t.Errorf("after reload, kid %v, want %q", h["kid"], kid)
	}
	if r := get(t, "/.well-known/jwks.json"); !strings.Contains(r.Body, `"kid":"`+kid+`"`) {
		t.Errorf("after reload, JWKS %s does not list kid %q", r.Body, kid)
	}
	issWantRevoked(t, "after reload, the logged-out token", get(t, "/", bearer(tok.AccessToken)))
	issWantJSONError(t, "after reload, the logged-out login's refresh token", issRefreshJSON(t, "/auth/refresh", tok.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	wantOK(t, "after reload, the other login's token", get(t, "/", bearer(kept.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", kept.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("after reload, the other login's refresh: %s, want 200", r)
	}

	// Only a secret: nothing to publish.
	startCaddy(t, guardConfigIn(t.TempDir(), []string{"secret " + secret, "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	r = get(t, "/jwks")
	if r.Status != http.StatusOK || strings.ReplaceAll(r.Body, " ", "") != `{"keys":[]}` {
		t.Errorf("JWKS with only a secret: %s, want {\"keys\":[]}", r)
	}
	hs := issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, hs.AccessToken); h["alg"] != "HS256" {
		t.Errorf("with only a secret, alg %v, want HS256", h["alg"])
	}
	wantOK(t, "HS256 token", get(t, "/", bearer(hs.AccessToken)), "ok alice")
}

// TestIssuerSigningKeys: key auto EdDSA, and a private key file with its
// kid, sign the issued tokens and are published.
func TestIssuerSigningKeys(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	storage := t.TempDir()
	startCaddy(t, guardConfigIn(storage, []string{"key auto EdDSA", "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	h, _ := issParts(t, tok.AccessToken)
	var set struct{ Keys []issJWK }
	r := get(t, "/jwks")
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s", r)
	}
	if h["alg"] != "EdDSA" || set.Keys[0].Kid != h["kid"] || set.Keys[0].Alg != "EdDSA" || set.Keys[0].Kty != "OKP" || set.Keys[0].Use != "sig" {
		t.Errorf("key auto EdDSA: header %v, JWKS %+v", h, set.Keys[0])
	}
	issVerifyWith(t, "EdDSA token", tok.AccessToken, issPublicKey(t, set.Keys[0]))
	issStorageKey(t, storage, "EdDSA")
	wantOK(t, "EdDSA token", get(t, "/", bearer(tok.AccessToken)), "ok alice")

	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	file := filepath.Join(t.TempDir(), "signing.pem")
	issWrite(t, file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	startCaddy(t, guardConfigIn(t.TempDir(), []string{"key " + file + " k384", "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	tok = issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, tok.AccessToken); h["alg"] != "ES384" || h["kid"] != "k384" {
		t.Errorf("key file: header %v, want ES384 with kid k384", h)
	}
	issVerifyWith(t, "key file token", tok.AccessToken, &k.PublicKey)
	r = get(t, "/jwks")
	if !strings.Contains(r.Body, `"kid":"k384"`) || !strings.Contains(r.Body, `"alg":"ES384"`) || strings.Contains(r.Body, `"d"`) {
		t.Errorf("JWKS of a key file: %s", r.Body)
	}
}

// TestIssuerUsersFile: JSON and htpasswd users files, config users winning
// over file users, disabled users, reload on change, and a file that
// stops parsing keeping the last good users.
func TestIssuerUsersFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.json")
	hAlice := bcryptHash(t, issAlicePW)
	issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": hAlice, "claims": map[string]any{"role": "admin"}},
		"dave":  map[string]any{"password": bcryptHash(t, "dave-file-pw")},
		"frank": map[string]any{"password": bcryptHash(t, "frank-pw"), "disabled": true},
	})
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("users_file "+file, "user dave "+bcryptHash(t, "dave-config-pw"), "login_limit 1000 1m")))
	status := func(user, pw string) int {
		return issLoginResp(t, "/auth/login", user, pw).Status
	}
	for _, tc := range []struct {
		user, pw string
		want     int
	}{
		{"alice", issAlicePW, 200},
		{"bob", issBobPW, 401},
		{"dave", "dave-config-pw", 200},
		{"dave", "dave-file-pw", 401},
		{"frank", "frank-pw", 401},
	} {
		if got := status(tc.user, tc.pw); got != tc.want {
			t.Errorf("login %s with %s: %d, want %d", tc.user, tc.pw, got, tc.want)
		}
	}

	// A new user appears.
	issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": hAlice, "claims": map[string]any{"role": "admin"}},
		"bob":   map[string]any{"password": bcryptHash(t, issBobPW)},
	})
	took := eventually(t, 6*time.Second, "bob, added to the users file, logs in", func() bool { return status("bob", issBobPW) == 200 })
	t.Logf("users file change picked up in %s", took)
	bob := issLogin(t, "/auth/login", "bob", issBobPW)
	if got := status("frank", "frank-pw"); got != 401 {
		t.Errorf("frank, dropped from the file: %d", got)
	}

	// The file disappears: the last good users stay.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // more than one poll
	if got := status("bob", issBobPW); got != 200 {
		t.Errorf("after the file disappeared, bob: %d, want 200 (last good users)", got)
	}

	// The file stops parsing: the last good users stay.
	issWrite(t, file, []byte(`{"alice": {"password": "`))
	time.Sleep(2500 * time.Millisecond) // more than one poll
	for _, u := range [][2]string{{"alice", issAlicePW}, {"bob", issBobPW}, {"dave", "dave-config-pw"}} {
		if got := status(u[0], u[1]); got != 200 {
			t.Errorf("after the file broke, %s: %d, want 200 (last good users)", u[0], got)
		}
	}
	a := issLogin(t, "/auth/login", "alice", issAlicePW)
	if _, c := issParts(t, a.AccessToken); c["role"] != "admin" {
		t.Errorf("after the file broke, alice's claims %v", c)
	}
	// A file with a bad hash does not parse either.
	issWrite(t, file, []byte(`{"alice": {"password": "plaintext"}}`))
	time.Sleep(2500 * time.Millisecond)
	if got := status("alice", issAlicePW); got != 200 {
		t.Errorf("after a file with a bad hash, alice: %d, want 200 (last good users)", got)
	}
	if got := status("alice", "plaintext"); got != 401 {
		t.Errorf("a plaintext password in the users file was accepted: %d", got)
	}

	// htpasswd lines ($2y$ and $2b$ prefixes), comments, blank lines.
	y := "$2y$" + strings.TrimPrefix(bcryptHash(t, "erin-pw"), "$2a$")
	b := "$2b$" + strings.TrimPrefix(bcryptHash(t, "alice-new-pw"), "$2a$")
	issWrite(t, file, []byte("# users\n\nerin:"+y+"\nalice:"+b+"\ncarol:"+issArgon2Hash+"\n"))
	eventually(t, 6*time.Second, "erin, from htpasswd lines, logs in", func() bool { return status("erin", "erin-pw") == 200 })
	for _, tc := range []struct {
		user, pw string
		want     int
	}{
		{"alice", "alice-new-pw", 200},
		{"alice", issAlicePW, 401},
		{"bob", issBobPW, 401},
		{"carol", issArgon2Password, 200},
		{"dave", "dave-config-pw", 200},
	} {
		if got := status(tc.user, tc.pw); got != tc.want {
			t.Errorf("htpasswd file, login %s with %s: %d, want %d", tc.user, tc.pw, got, tc.want)
		}
	}
	// A user removed since can no longer refresh.
	issWantJSONError(t, "refresh of a removed user", issRefreshJSON(t, "/auth/refresh", bob.RefreshToken), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerSharedStorage: two jwt_auth handlers on one storage (as two
// Caddy instances would be) share the key, the refresh families and the
// revocations: a logout on one is refused by the other within 10 s.
func TestIssuerSharedStorage(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	cfg := siteConfigWith(globalOptions(t.TempDir()), `	handle /a/* {
		jwt_auth {
			key auto
			login /a/login
			refresh /a/refresh
			logout /a/logout
			user alice `+hash+`
		}
		respond "ok {http.auth.user.id}" 200
	}
	handle /b/* {
		jwt_auth {
			key auto
			refresh /b/refresh
			user alice `+hash+`
		}
		respond "ok {http.auth.user.id}" 200
	}
`+errorsBlock)
	startCaddy(t, cfg)

	one := issLogin(t, "/a/login", "alice", issAlicePW)
	wantOK(t, "A's token on B", get(t, "/b/x", bearer(one.AccessToken)), "ok alice")

	// A refresh on B spends the token for A too.
	r := issRefreshJSON(t, "/b/refresh", one.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("A's refresh token on B: %s, want 200", r)
	}
	two := issDecodeTokens(t, "refresh on B", r)
	issWantJSONError(t, "the spent token on A", issRefreshJSON(t, "/a/refresh", one.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantJSONError(t, "B's newest refresh token after reuse on A", issRefreshJSON(t, "/b/refresh", two.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantRevoked(t, "B's newest access token on A", get(t, "/a/x", bearer(two.AccessToken)))

	// A logout on A.
	three := issLogin(t, "/a/login", "alice", issAlicePW)
	wantOK(t, "before logout, on B", get(t, "/b/x", bearer(three.AccessToken)), "ok alice")
	wantStatus(t, "logout on A", doRequest(t, http.MethodPost, "/a/logout", bearer(three.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "after logout, on A", get(t, "/a/x", bearer(three.AccessToken)))
	took := eventually(t, 10*time.Second, "B refuses what A revoked", func() bool {
		a := get(t, "/b/x", bearer(three.AccessToken))
		b := get(t, "/b/x", bearer(two.AccessToken))
		return a.Status == http.StatusUnauthorized && b.Status == http.StatusUnauthorized
	})
	t.Logf("revocations reached the other instance in %s", took)
	issWantRevoked(t, "after logout, on B", get(t, "/b/x", bearer(three.AccessToken)))
	issWantRevoked(t, "after reuse, on B", get(t, "/b/x", bearer(two.AccessToken)))
	issWantJSONError(t, "refresh of the logged-out login on B", issRefreshJSON(t, "/b/refresh", three.RefreshToken), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerLoadErrors: issuer configurations refused at load, naming
// the subdirective.
func TestIssuerLoadErrors(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	// Start the in-process Caddy with a good config first.
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash)))

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubFile := filepath.Join(t.TempDir(), "public.pem")
	issWrite(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"login without users", []string{"key auto", "login /auth/login"}, "login: no users"},
		{"refresh without users", []string{"key auto", "refresh /auth/refresh"}, "no users"},
		{"login with only a public key", []string{"key " + pubFile, "login /auth/login", "user alice " + hash}, "no key can sign"},
		{"relative login path", []string{"key auto", "login auth/login", "user alice " + hash}, "login: must be an absolute path"},
		{"relative logout path", []string{"key auto", "logout auth/logout"}, "logout: must be an absolute path"},
		{"relative refresh path", []string{"key auto", "refresh auth/refresh", "user alice " + hash}, "refresh: must be an absolute path"},
		{"refresh with refresh_ttl 0", []string{"key auto", "login /auth/login", "refresh /auth/refresh", "refresh_ttl 0", "user alice " + hash}, "refresh:"},
		{"bad same_site", []string{"key auto", "login /auth/login", "user alice " + hash, "cookie {\n\t\t\tsame_site sideways\n\t\t}"}, "same_site"},
		{"login_limit 0", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 0 1m"}, "login_limit"},
		{"login_limit without window", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 5"}, "login_limit"},
		{"login_limit bad window", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 5 soon"}, "login_limit"},
		{"login_limit negative", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit -1 1m"}, "login_limit"},
		{"key auto HS256", []string{"key auto HS256", "login /auth/login", "user alice " + hash}, "key auto"},
		{"key auto ES384", []string{"key auto ES384", "login /auth/login", "user alice " + hash}, "key auto"},
		{"user with a plaintext password", []string{"key auto", "login /auth/login", "user alice secret"}, "user"},
		{"user without hash", []string{"key auto", "login /auth/login", "user alice"}, "user"},
		{"users_file missing", []string{"key auto", "login /auth/login", "users_file /nonexistent/users.json"}, "users_file"},
		{"login_page missing", []string{"key auto", "login /auth/login", "user alice " + hash, "login_page /nonexistent/login.html"}, "login_page"},
		{"bad trusted origin", []string{"key auto", "login /auth/login", "user alice " + hash, "trusted_origins app.example/path"}, "trusted_origins"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			wantLoadError(t, tc.name, guardConfigIn(t.TempDir(), tc.lines), "caddyfile", tc.want)
		})
	}

	// The JSON config path: provisioning checks the paths too.
	t.Run("JSON_relative_login", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"admin":{"listen":%q},"storage":{"module":"file_system","root":%q},
"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%[3]d"],"routes":[{"handle":[
{"handler":"jwt_auth","keys":[{"auto":"ES256"}],"login":"auth/login","users":[{"name":"alice","password":%q}]}]}]}}}}}`, adminAddr, t.TempDir(), httpPort, hash)
		wantLoadError(t, "JSON relative login", cfg, "json", "login: must be an absolute path")
	})
	t.Run("JSON_bad_same_site", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"admin":{"listen":%q},"storage":{"module":"file_system","root":%q},
"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%[3]d"],"routes":[{"handle":[
{"handler":"jwt_auth","keys":[{"auto":"ES256"}],"login":"/login","users":[{"name":"alice","password":%q}],"cookie":{"same_site":"sideways"}}]}]}}}}}`, adminAddr, t.TempDir(), httpPort, hash)
		wantLoadError(t, "JSON bad same_site", cfg, "json", "same_site")
	})
}

// TestIssuerRestart runs the built binary twice on one storage: a token
// logged out before the restart is still refused after it, the other
// login's tokens and refresh still work, and the key is the same.
func TestIssuerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Caddy")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	storage := filepath.Join(tmp, "storage")
	cfgFile := filepath.Join(tmp, "Caddyfile")
	// Ports of its own (9180 and 9543), moved like the others by
	// CADDYJWT_TEST_PORT_OFFSET.
	port := 9180 + portOffset
	base := fmt.Sprintf("http://localhost:%d", port)
	issWrite(t, cfgFile, []byte(`{
	admin off
	http_port `+strconv.Itoa(port)+`
	https_port `+strconv.Itoa(9543+portOffset)+`
	auto_https off
	storage file_system `+storage+`
}

`+base+` {
	jwt_auth {
		key auto
		login /auth/login
		refresh /auth/refresh
		logout /auth/logout
		jwks_endpoint /jwks
		user alice `+bcryptHash(t, issAlicePW)+`
	}
	respond "ok {http.auth.user.id}" 200
	handle_errors {
		respond "{http.auth.jwt_auth.error}" {http.error.status_code}
	}
}
`))
	run := func() (stop func()) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgFile, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(tmp, "data"), "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "HOME="+tmp)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			_ = cmd.Wait()
			cancel()
			if t.Failed() {
				t.Logf("caddy output:\n%s", logs.String())
			}
		}
		t.Cleanup(stop)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := httpClient.Get(base + "/jwks")
			if err == nil {
				resp.Body.Close()
				return stop
			}
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("the built Caddy does not answer on %s", base)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	login := func() issTokens {
		t.Helper()
		r := issLoginResp(t, base+"/auth/login", "alice", issAlicePW)
		if r.Status != http.StatusOK {
			t.Fatalf("login on the built Caddy: %s", r)
		}
		return issDecodeTokens(t, "login", r)
	}
	kidOf := func(tok string) string {
		h, _ := issParts(t, tok)
		s, _ := h["kid"].(string)
		return s
	}
	withToken := func(tok string) response { return get(t, base+"/", bearer(tok)) }

	stop := run()
	out, kept := login(), login()
	kid := kidOf(out.AccessToken)
	wantOK(t, "before restart", withToken(out.AccessToken), "ok alice")
	wantStatus(t, "logout before restart", doRequest(t, http.MethodPost, base+"/auth/logout", bearer(out.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "before restart, after logout", withToken(out.AccessToken))
	stop()
	if _, err := os.Stat(filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem")); err != nil {
		t.Errorf("key auto not kept at caddyjwt/keys/auto-es256.pem in the storage: %v", err)
	}

	run()
	issWantRevoked(t, "after restart, the logged-out token", withToken(out.AccessToken))
	issWantJSONError(t, "after restart, the logged-out login's refresh token", issRefreshJSON(t, base+"/auth/refresh", out.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	wantOK(t, "after restart, the other login's token", withToken(kept.AccessToken), "ok alice")
	r := issRefreshJSON(t, base+"/auth/refresh", kept.RefreshToken)
	if r.Status != http.StatusOK {
		t.Errorf("after restart, the other login's refresh: %s, want 200", r)
	}
	if k := kidOf(login().AccessToken); k != kid {
		t.Errorf("after restart, kid %q, want %q", k, kid)
	}
	if r := get(t, base+"/jwks"); !strings.Contains(r.Body, strconv.Quote(kid)) {
		t.Errorf("after restart, JWKS %s does not list %q", r.Body, kid)
	}
}
