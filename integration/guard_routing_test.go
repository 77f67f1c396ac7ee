package integration

// What the guard lets through and passes on: optional, redirect, except,
// CORS preflights, placeholders, claim headers and request matchers.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIntegrationOptional: no token passes anonymously, a bad one is refused.
func TestIntegrationOptional(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "optional", "require role admin")))
	wantAnonymous(t, "no token", get(t, "/"))
	wantAnonymous(t, "empty Bearer", get(t, "/", header("Authorization", "Bearer ")))
	wantAnonymous(t, "Basic", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz")))
	wantOK(t, "valid token", get(t, "/", bearer(hs(t, "alice", map[string]any{"role": "admin"}))), "ok alice")
	wantInvalid(t, "garbage token", get(t, "/", bearer("garbage")), "malformed", "token malformed")
	wantInvalid(t, "expired token", get(t, "/", bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "expired", "token expired")
	wantInvalid(t, "forged token", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims("alice", nil), nil))),
		"bad_signature", "signature invalid")
	wantForbidden(t, "valid token failing require", get(t, "/", bearer(hs(t, "bob", map[string]any{"role": "user"}))))
}

// TestIntegrationRedirect: browsers without a valid token are sent to the
// login page; API clients get the 401.
func TestIntegrationRedirect(t *testing.T) {
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	loc := func(r response) string { return r.Header.Get("Location") }
	want302 := func(label string, r response, location string) {
		t.Helper()
		if r.Status != http.StatusFound || loc(r) != location {
			t.Errorf("%s: got %d Location %q, want 302 %q", label, r.Status, loc(r), location)
		}
		if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
			t.Errorf("%s: redirect set cookies %q", label, sc)
		}
	}
	ret := func(uri string) string { return url.QueryEscape(uri) }

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect /login", "require role admin")))
	admin := hs(t, "alice", map[string]any{"role": "admin"})
	want302("GET, browser", get(t, "/secret?a=1&b=2", header("Accept", html)), "/login?return="+ret("/secret?a=1&b=2"))
	want302("GET, Accept text/html only", get(t, "/docs/page", header("Accept", "text/html")), "/login?return="+ret("/docs/page"))
	want302("escaped request URI", get(t, "/a%20b/c?q=x%26y", header("Accept", html)), "/login?return="+ret("/a%20b/c?q=x%26y"))
	want302("HEAD, browser", doRequest(t, http.MethodHead, "/x", header("Accept", html)), "/login?return="+ret("/x"))
	want302("expired token", get(t, "/x", header("Accept", html), bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "/login?return="+ret("/x"))
	want302("garbage token", get(t, "/x", header("Accept", html), cookie("access_token", "garbage")), "/login?return="+ret("/x"))
	wantOK(t, "valid token, browser", get(t, "/x", header("Accept", html), bearer(admin)), "ok alice")
	wantForbidden(t, "valid token failing require, browser", get(t, "/x", header("Accept", html), bearer(hs(t, "bob", map[string]any{"role": "user"}))))

	wantMissing(t, "POST, browser", doRequest(t, http.MethodPost, "/x", header("Accept", html), body("a=1")))
	wantMissing(t, "PUT, browser", doRequest(t, http.MethodPut, "/x", header("Accept", html)))
	wantMissing(t, "API client", get(t, "/x", header("Accept", "application/json")))
	wantMissing(t, "no Accept", get(t, "/x"))
	wantInvalid(t, "API client, expired token", get(t, "/x", header("Accept", "application/json"),
		bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "expired", "token expired")

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect /auth/login?from=site")))
	want302("redirect URL with a query", get(t, "/page?x=1", header("Accept", html)), "/auth/login?from=site&return="+ret("/page?x=1"))

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect https://auth.example.com/login")))
	// The login is on another origin (a portal): return is the page's
	// absolute URL, which the portal sends the browser back to when it
	// trusts the origin.
	want302("redirect to another origin", get(t, "/page", header("Accept", html)), "https://auth.example.com/login?return="+ret(baseURL+"/page"))
}

// TestIntegrationExcept: except paths are Caddy path patterns, and no
// crafted path reaches a guarded file through them.
func TestIntegrationExcept(t *testing.T) {
	root := keyDir(t)
	writeTree(t, root, map[string]string{
		"public/index.txt": "PUBLIC",
		"secret.txt":       "TOPSECRET",
		"health":           "HEALTH",
		"favicon.ico":      "ICON",
		"sub/favicon.ico":  "SUBICON",
		"exact":            "EXACT",
		"exactly":          "EXACTLY-GUARDED",
		"publicity.txt":    "PUBLICITY-GUARDED",
	})
	startCaddy(t, siteConfig(`	root * `+root+`
	jwt_auth {
		secret `+hmac64+`
		except /public/* /health *.ico /exact
	}
	file_server
`+errorsBlock))
	tok := hs(t, "alice", nil)

	wantOK(t, "/public/index.txt", get(t, "/public/index.txt"), "PUBLIC")
	wantOK(t, "/health", get(t, "/health"), "HEALTH")
	wantOK(t, "/favicon.ico", get(t, "/favicon.ico"), "ICON")
	wantOK(t, "/sub/favicon.ico", get(t, "/sub/favicon.ico"), "SUBICON")
	wantOK(t, "/exact", get(t, "/exact"), "EXACT")
	wantMissing(t, "/exactly", get(t, "/exactly"))
	wantMissing(t, "/publicity.txt", get(t, "/publicity.txt"))
	wantMissing(t, "/secret.txt", get(t, "/secret.txt"))
	wantOK(t, "/secret.txt with a token", get(t, "/secret.txt", bearer(tok)), "TOPSECRET")
	wantOK(t, "/exactly with a token", get(t, "/exactly", bearer(tok)), "EXACTLY-GUARDED")

	for _, target := range []string{
		"/public/../secret.txt",
		"/public/%2e%2e/secret.txt",
		"/public/%2E%2E/secret.txt",
		"//secret.txt",
		"/public%2f..%2fsecret.txt",
		"/public%2F..%2Fsecret.txt",
		"/public/..%2fsecret.txt",
		"/public/./../secret.txt",
		"/public//../secret.txt",
		"/health/../secret.txt",
		"/secret.txt/../secret.txt",
		"/secret.txt?x=/public/a",
		"/secret.txt#/public/",
		"/secret.txt;.ico",
		"/secret.txt%00.ico",
	} {
		r := rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n")
		wantNotServed(t, target, r, "TOPSECRET")
	}
}

// TestIntegrationCORSPreflight: a preflight passes without a token, any
// other OPTIONS needs one.
func TestIntegrationCORSPreflight(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	opts := func(o ...reqOpt) response { return doRequest(t, http.MethodOptions, "/api/x", o...) }
	wantAnonymous(t, "preflight", opts(header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
	wantMissing(t, "plain OPTIONS", opts())
	wantMissing(t, "OPTIONS with Origin only", opts(header("Origin", "https://app.example")))
	wantMissing(t, "OPTIONS with Access-Control-Request-Method only", opts(header("Access-Control-Request-Method", "POST")))
	wantOK(t, "OPTIONS with a token", opts(bearer(hs(t, "alice", nil))), "ok alice")
	wantMissing(t, "GET with preflight headers", get(t, "/api/x", header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
	wantMissing(t, "POST with preflight headers", doRequest(t, http.MethodPost, "/api/x", header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
}

// TestIntegrationPlaceholders: {http.auth.user.id} and
// {http.auth.user.<claim>}.
func TestIntegrationPlaceholders(t *testing.T) {
	startCaddy(t, siteConfig(`	jwt_auth {
		secret `+hmac64+`
	}
	respond "{http.auth.user.id}|{http.auth.user.role}|{http.auth.user.groups}|{http.auth.user.meta}|{http.auth.user.sub}|{http.auth.user.iss}|{http.auth.user.tmpl}" 200
`+errorsBlock))
	tok := hs(t, "alice", map[string]any{
		"role":   "admin",
		"groups": []string{"a", "b"},
		"meta":   map[string]any{"k": "v"},
		"iss":    "https://issuer.example",
		"tmpl":   "{http.request.uri}",
	})
	wantOK(t, "placeholders", get(t, "/x", bearer(tok)), `alice|admin|a,b|{"k":"v"}|alice|https://issuer.example|{http.request.uri}`)

	// {http.auth.user.id} fills the access log's user_id.
	logPath := filepath.Join(keyDir(t), "access.log")
	startCaddy(t, siteConfig(`	log {
		output file `+logPath+`
		format json
	}
	jwt_auth {
		secret `+hmac64+`
	}
	respond "ok {http.auth.user.id}" 200
`))
	wantOK(t, "logged request", get(t, "/logged", bearer(hs(t, "carol", nil))), "ok carol")
	deadline := time.Now().Add(3 * time.Second)
	var logged string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		logged = string(b)
		if strings.Contains(logged, `"uri":"/logged"`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logged, `"user_id":"carol"`) {
		t.Errorf("access log has no user_id carol:\n%s", logged)
	}
}

// TestIntegrationClaimHeaders: claim_header through reverse_proxy, with
// client copies stripped in every path and Connection neutralised.
func TestIntegrationClaimHeaders(t *testing.T) {
	upstream := echoServer(t).addr
	block := lines(
		"secret "+hmac64,
		"claim_header sub X-User",
		"claim_header roles X-Roles",
		"claim_header level X-Level",
		"claim_header ratio X-Ratio",
		"claim_header admin X-Admin",
		"claim_header off X-Off",
		"claim_header meta X-Meta",
		"claim_header note X-Note",
		"claim_header nul X-Nul",
		"claim_header del X-Del",
		"claim_header tab X-Tab",
		"claim_header cr X-Cr",
		"claim_header missing X-Missing",
		"claim_header tmpl X-Tmpl",
		"except /public/*",
	)
	// Caddy itself drops client headers with '_' unless they are
	// allowlisted; allowlist some, so that the guard's own folding of '_'
	// onto '-' is what keeps them from the upstream.
	startCaddy(t, globalBlockWith("\tservers {\n\t\texpected_underscore_headers x_note x_missing x_tmpl\n\t}")+
		"\n"+baseURL+" {\n\tjwt_auth {\n"+block+"\n\t}\n\treverse_proxy "+upstream+"\n"+errorsBlock+"}\n")
	tok := hs(t, "alice", map[string]any{
		"roles": []string{"a", "b"},
		"level": 3,
		"ratio": 2.5,
		"admin": true,
		"off":   false,
		"meta":  map[string]any{"a": 1},
		"note":  "line1\nline2",
		"nul":   "a\x00b",
		"del":   "a\x7fb",
		"tab":   "a\tb",
		"cr":    "a\rb",
		"tmpl":  "{http.request.host}",
	})
	spoof := []reqOpt{
		rawHeader("X-User", "mallory"),
		rawHeader("x-user", "mallory2"),
		rawHeader("X_User", "mallory3"),
		rawHeader("X-ROLES", "root"),
		rawHeader("X-Level", "99"),
		rawHeader("X_Note", "spoofed"),    // allowlisted above
		rawHeader("x_missing", "spoofed"), // allowlisted above
		rawHeader("X_Tmpl", "spoofed"),    // allowlisted above
	}
	wantHeaders := func(label string, e echoed, want map[string][]string) {
		t.Helper()
		for name, w := range want {
			got := headerValues(e.Headers, name)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", w) && !(len(got) == 0 && len(w) == 0) {
				t.Errorf("%s: upstream got %s %q, want %q", label, name, got, w)
			}
		}
	}

	e := decodeEcho(t, "authenticated", get(t, "/api", append([]reqOpt{bearer(tok)}, spoof...)...))
	wantHeaders("authenticated", e, map[string][]string{
		"X-User":    {"alice"},
		"X-Roles":   {"a,b"},
		"X-Level":   {"3"},
		"X-Ratio":   {"2.5"},
		"X-Admin":   {"true"},
		"X-Off":     {"false"},
		"X-Meta":    {`{"a":1}`},
		"X-Note":    nil,
		"X-Nul":     nil,
		"X-Del":     nil,
		"X-Tab":     nil,
		"X-Cr":      nil,
		"X-Missing": nil,
		"X-Tmpl":    {"{http.request.host}"},
	})

	e = decodeEcho(t, "except path", get(t, "/public/x", spoof...))
	wantHeaders("except path", e, map[string][]string{"X-User": nil, "X-Roles": nil, "X-Missing": nil, "X-Note": nil, "X-Level": nil, "X-Tmpl": nil})

	e = decodeEcho(t, "preflight", doRequest(t, http.MethodOptions, "/api", append([]reqOpt{
		header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")}, spoof...)...))
	wantHeaders("preflight", e, map[string][]string{"X-User": nil, "X-Roles": nil, "X-Missing": nil, "X-Note": nil, "X-Level": nil, "X-Tmpl": nil})

	// Connection naming the header must not make the proxy drop it.
	for _, conn := range []string{"X-User", "x-user, X-Roles", "keep-alive, X-User"} {
		r := rawRequest(t, "GET /api HTTP/1.1\r\nHost: "+siteHost+"\r\nAuthorization: Bearer "+tok+
			"\r\nConnection: "+conn+"\r\nX-User: mallory\r\nX-Roles: root\r\n\r\n")
		e = decodeEcho(t, "Connection: "+conn, r)
		wantHeaders("Connection: "+conn, e, map[string][]string{"X-User": {"alice"}, "X-Roles": {"a,b"}})
	}

	// The guard leaves the body to the upstream.
	e = decodeEcho(t, "POST body", doRequest(t, http.MethodPost, "/api", bearer(tok), header("Content-Type", "text/plain"), body("hello-body")))
	if e.Body != "hello-body" {
		t.Errorf("upstream got body %q, want %q", e.Body, "hello-body")
	}

	// Refused requests never reach the upstream.
	wantMissing(t, "no token", get(t, "/api", spoof...))

	t.Run("optional, anonymous", func(t *testing.T) {
		startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64, "optional", "claim_header sub X-User")+"\n\t}\n\treverse_proxy "+upstream+"\n"+errorsBlock))
		e := decodeEcho(t, "anonymous", get(t, "/api", spoof...))
		wantHeaders("anonymous", e, map[string][]string{"X-User": nil})
		e = decodeEcho(t, "authenticated", get(t, "/api", append([]reqOpt{bearer(tok)}, spoof...)...))
		wantHeaders("authenticated", e, map[string][]string{"X-User": {"alice"}})
	})
}

// TestIntegrationMatcher: the directive's matcher limits what it guards.
func TestIntegrationMatcher(t *testing.T) {
	startCaddy(t, siteConfig("\tjwt_auth /api/* {\n"+lines("secret "+hmac64)+"\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n"+errorsBlock))
	wantMissing(t, "/api/x", get(t, "/api/x"))
	wantOK(t, "/api/x with a token", get(t, "/api/x", bearer(hs(t, "alice", nil))), "ok alice")
	wantAnonymous(t, "/other", get(t, "/other"))
}
