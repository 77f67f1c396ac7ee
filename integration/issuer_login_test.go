package integration

// The issuer's login: JSON and form logins, failures, strict JSON, the
// login page and its redirects, and the rate limit.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

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
		"access_token_refresh="+tok.RefreshToken+"; Path=/auth/; Max-Age=604800; HttpOnly; Secure; SameSite=Lax"; got != want {
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
	// Signed with a key derived from the signing key, never published, and
	// addressed to the refresh endpoint: no other reader accepts it.
	if rh["alg"] != "HS256" || rh["typ"] != "refresh+jwt" || rh["kid"] != "refresh."+kid {
		t.Errorf("refresh token header %v: want alg HS256, typ refresh+jwt, kid %q", rh, "refresh."+kid)
	}
	if rc["sid"] != sid || rc["sub"] != "alice" || rc["iss"] != baseURL || rc["jti"] == jti || rc["jti"] == "" ||
		rc["aud"] != baseURL+"/auth/refresh" {
		t.Errorf("refresh claims %v: want sid %q, sub alice, iss %s, aud %[3]s/auth/refresh, a jti of its own", rc, sid, baseURL)
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
		if !strings.HasPrefix(access, "access_token=ey") || !strings.Contains(refresh, "; Path=/auth/;") {
			t.Errorf("%s: cookies %q, want the access and refresh cookies", label, r.Header.Values("Set-Cookie"))
		}
	}
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
