package caddyjwt

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestResponses(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n require role admin\n}")
	admin := mint(t, "HS256", []byte(testSecret), valid(jwt.MapClaims{"role": "admin"}), nil)
	user := mint(t, "HS256", []byte(testSecret), valid(jwt.MapClaims{"role": "user"}), nil)
	for _, tc := range []struct {
		name, tok, challenge, reason string
		status                       int
	}{
		{"valid", admin, "", "", 0},
		{"missing", "", `Bearer realm="example.com"`, "missing", 401},
		{"bad", admin + "x", `Bearer realm="example.com", error="invalid_token", error_description="signature invalid"`, "bad_signature", 401},
		{"forbidden", user, `Bearer realm="example.com", error="insufficient_scope"`, "forbidden", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bearer(tc.tok)
			r.Host = "example.com:8443"
			res := serve(t, h, r)
			if res.status != tc.status || res.header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("got %d %q, want %d %q", res.status, res.header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
			if got, _ := res.repl.GetString("http.auth.jwt_auth.error"); got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n optional\n claim_header sub X-User\n}")
	r := bearer("")
	r.Header.Set("X-User", "spoofed")
	res := serve(t, h, r)
	if res.status != 0 || res.next.Header.Get("X-User") != "" {
		t.Errorf("anonymous: status %d, X-User %q", res.status, res.next.Header.Get("X-User"))
	}
	// Empty, never left as literal text: "Hello {http.auth.user.id}"
	// reads "Hello " to an anonymous visitor.
	for _, key := range []string{"http.auth.user.id", "http.auth.user.email"} {
		if v, known := res.repl.GetString(key); !known || v != "" {
			t.Errorf("anonymous request: %s = %q (known %v), want empty", key, v, known)
		}
	}
	if res := serve(t, h, bearer("a.b.c")); res.status != 401 {
		t.Errorf("bad token with optional: status %d", res.status)
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		redirect, want string
	}{
		{"/login", "/login?return=%2Fdocs%2Fa%3Fb%3Dc%26d"},
		// On another origin (a portal), the page's absolute URL: the
		// portal sends the browser back there when it trusts the origin.
		{"https://auth.example/login?app=x", "https://auth.example/login?app=x&return=http%3A%2F%2Fexample.com%2Fdocs%2Fa%3Fb%3Dc%26d"},
		// On this origin, spelled absolutely (default port): the path only.
		{"http://EXAMPLE.com:80/login", "http://EXAMPLE.com:80/login?return=%2Fdocs%2Fa%3Fb%3Dc%26d"},
	} {
		h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n redirect "+tc.redirect+"\n}")
		browser := func(method, tok string) *http.Request {
			r := httptest.NewRequest(method, "http://example.com/docs/a?b=c&d", nil)
			r.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9")
			if tok != "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return r
		}
		for _, r := range []*http.Request{browser("GET", ""), browser("HEAD", ""), browser("GET", "a.b.c")} {
			res := serve(t, h, r)
			if res.status != 302 || res.header.Get("Location") != tc.want {
				t.Errorf("%s: got %d %q, want 302 %q", r.Method, res.status, res.header.Get("Location"), tc.want)
			}
		}
		api := browser("GET", "")
		api.Header.Set("Accept", "application/json")
		if res := serve(t, h, api); res.status != 401 {
			t.Errorf("API client redirected: %d", res.status)
		}
		if res := serve(t, h, browser("POST", "")); res.status != 401 {
			t.Errorf("POST redirected: %d", res.status)
		}
	}
}

func TestRedirectNeverCarriesAQueryToken(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n from query token\n redirect /login\n}")
	r := httptest.NewRequest(http.MethodGet, "http://example.com/docs?page=2&token=a.b.c", nil)
	r.Header.Set("Accept", "text/html")
	res := serve(t, h, r)
	if want := "/login?return=%2Fdocs%3Fpage%3D2"; res.status != 302 || res.header.Get("Location") != want {
		t.Errorf("got %d %q, want 302 %q", res.status, res.header.Get("Location"), want)
	}
}

func TestExceptAndPreflight(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n except /public/* /health\n}")
	for _, tc := range []struct {
		target string
		passes bool
	}{
		{"/public/a.css", true},
		{"/health", true},
		{"/healthz", false},
		{"/public/../secret.txt", false},
		{"/public/%2e%2e/secret.txt", false},
		{"/public%2f..%2fsecret.txt", false},
		{"//secret.txt", false},
		{"/secret.txt", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://example.com"+tc.target, nil)
		res := serve(t, h, r)
		if (res.status == 0) != tc.passes {
			t.Errorf("%s: status %d, passes want %v", tc.target, res.status, tc.passes)
		}
	}
	pre := httptest.NewRequest(http.MethodOptions, "http://example.com/api", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	if res := serve(t, h, pre); res.status != 0 {
		t.Errorf("preflight refused: %d", res.status)
	}
	plain := httptest.NewRequest(http.MethodOptions, "http://example.com/api", nil)
	if res := serve(t, h, plain); res.status != 401 {
		t.Errorf("plain OPTIONS passed: %d", res.status)
	}
}

func TestPublishIdentity(t *testing.T) {
	h := mustProvision(t, `jwt_auth {
		secret `+testSecret+`
		claim_header sub X-User
		claim_header groups X-Groups
		claim_header org.name X-Org
		claim_header evil X-Evil
		claim_header tpl X-Tpl
	}`)
	tok := mint(t, "HS256", []byte(testSecret), valid(jwt.MapClaims{
		"groups": []string{"a", "b"}, "org": map[string]any{"name": "acme"},
		"evil": "x\r\nSet-Cookie: y", "tpl": "{env.HOME}", "n": 5,
	}), nil)
	r := bearer(tok)
	r.Header.Set("X_User", "spoofed")
	r.Header.Set("X-Evil", "spoofed")
	res := serve(t, h, r)
	if res.status != 0 {
		t.Fatalf("status %d", res.status)
	}
	if cc := res.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("an authenticated response may be cached: Cache-Control %q", cc)
	}
	got := res.next.Header
	if got.Get("X-User") != "alice" || got.Get("X-Groups") != "a,b" || got.Get("X-Org") != "acme" ||
		got.Get("X-Tpl") != "{env.HOME}" || got.Get("X-Evil") != "" || got.Get("X_User") != "" {
		t.Errorf("headers passed on: %v", got)
	}
	for key, want := range map[string]string{
		"http.auth.user.id": "alice", "http.auth.user.sub": "alice",
		"http.auth.user.groups": "a,b", "http.auth.user.org": `{"name":"acme"}`, "http.auth.user.n": "5",
	} {
		if v, _ := res.repl.GetString(key); v != want {
			t.Errorf("{%s} = %q, want %q", key, v, want)
		}
	}
	if v := res.repl.ReplaceAll("{http.auth.user.tpl}", ""); v != "{env.HOME}" {
		t.Errorf("a claim was expanded as a placeholder: %q", v)
	}
}

func TestRefusalDropsSetCookie(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n}")
	r := bearer("")
	w := httptest.NewRecorder()
	w.Header().Set("Set-Cookie", "a=b")
	res := serveWith(t, h, w, r)
	if res.status != 401 || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("refused with Set-Cookie: %d %q", res.status, w.Header().Get("Set-Cookie"))
	}
}

func TestLogsNeverHoldTheToken(t *testing.T) {
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n}")
	core, logs := observer.New(zapcore.DebugLevel)
	h.logger = zap.New(core)
	tok := mint(t, "HS256", []byte(testSecret), valid(nil), nil) + "x"
	r := httptest.NewRequest(http.MethodGet, "http://example.com/p?access_token="+tok, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	serve(t, h, r)
	entries := logs.All()
	if len(entries) != 1 || entries[0].Level != zapcore.DebugLevel {
		t.Fatalf("want one DEBUG entry, got %v", entries)
	}
	fields := entries[0].ContextMap()
	if fields["reason"] != "bad_signature" || fields["client_ip"] == "" {
		t.Errorf("fields %v", fields)
	}
	for _, f := range fields {
		if s, ok := f.(string); ok && strings.Contains(s, tok[:20]) {
			t.Errorf("log holds the token: %v", fields)
		}
	}
}

// TestTokenNeverPassedOn: the token the guard read — Authorization's
// Bearer value, the query parameter, the token cookie — and the refresh
// cookie are removed before the next handler; other credentials, cookies
// and parameters stay as they were; forward_token keeps the access token.
func TestTokenNeverPassedOn(t *testing.T) {
	tok := mint(t, "HS256", []byte(testSecret), valid(nil), nil)
	for _, tc := range []struct {
		name, from string
		forward    bool
		setup      func(r *http.Request)
		check      func(t *testing.T, r *http.Request)
	}{
		{"bearer", "", false, func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+tok)
			r.Header.Add("Authorization", "Basic YTpi")
		}, func(t *testing.T, r *http.Request) {
			if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != "Basic YTpi" {
				t.Errorf("Authorization passed on: %q", got)
			}
		}},
		{"cookie", "", false, func(r *http.Request) {
			r.Header.Set("Cookie", "theme=dark; access_token="+tok+"; access_token_refresh=r1; lang=en")
		}, func(t *testing.T, r *http.Request) {
			if got := r.Header.Get("Cookie"); got != "theme=dark; lang=en" {
				t.Errorf("Cookie passed on: %q", got)
			}
		}},
		{"query", "query token", false, func(r *http.Request) {
			r.URL.RawQuery = "a=1&token=" + tok + "&b=%20x"
		}, func(t *testing.T, r *http.Request) {
			if r.URL.RawQuery != "a=1&b=%20x" {
				t.Errorf("query passed on: %q", r.URL.RawQuery)
			}
		}},
		{"custom header", "header X-Token", false, func(r *http.Request) {
			r.Header.Set("X-Token", tok)
		}, func(t *testing.T, r *http.Request) {
			if r.Header.Get("X-Token") != "" {
				t.Error("X-Token passed on")
			}
		}},
		{"forward_token", "", true, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Cookie", "access_token_refresh=r1")
		}, func(t *testing.T, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+tok || r.Header.Get("Cookie") != "" {
				t.Errorf("forward_token: Authorization %q, Cookie %q", r.Header.Get("Authorization"), r.Header.Get("Cookie"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block := "jwt_auth {\n secret " + testSecret + "\n"
			if tc.from != "" {
				block += " from " + tc.from + "\n"
			}
			if tc.forward {
				block += " forward_token\n"
			}
			h := mustProvision(t, block+"}")
			r := httptest.NewRequest(http.MethodGet, "http://example.com/x", nil)
			tc.setup(r)
			res := serve(t, h, r)
			if res.status != 0 {
				t.Fatalf("status %d", res.status)
			}
			tc.check(t, res.next)
		})
	}
	// On a path served without a token, the refresh cookie stays behind too.
	h := mustProvision(t, "jwt_auth {\n secret "+testSecret+"\n except /public/*\n}")
	r := httptest.NewRequest(http.MethodGet, "http://example.com/public/a", nil)
	r.Header.Set("Cookie", "access_token_refresh=r1; theme=dark")
	if res := serve(t, h, r); res.status != 0 || res.next.Header.Get("Cookie") != "theme=dark" {
		t.Errorf("except: status %d, Cookie %q", res.status, res.next.Header.Get("Cookie"))
	}
}
