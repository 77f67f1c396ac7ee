package integration

// What the guard passes on to an upstream: never the token it read, never
// the refresh cookie (unless forward_token keeps the access token); and
// anonymous requests read empty identity placeholders.

import (
	"net/http"
	"strings"
	"testing"
)

// TestGuardTokensStayAtTheGuard: an echo upstream behind reverse_proxy
// never receives Authorization's Bearer value, the token cookie, the
// token query parameter or the refresh cookie; other credentials, cookies
// and parameters arrive as sent; with forward_token the access token
// arrives as the client sent it, the refresh cookie still does not.
func TestGuardTokensStayAtTheGuard(t *testing.T) {
	up := echoServer(t)
	cfg := func(extra ...string) string {
		return siteConfig("\tjwt_auth {\n" + lines(append([]string{"secret " + hmac64}, extra...)...) +
			"\n\t}\n\treverse_proxy " + up.addr + "\n" + errorsBlock)
	}
	tok := hs(t, "alice", nil)
	startCaddy(t, cfg())
	e := decodeEcho(t, "bearer", get(t, "/x", header("Authorization", "Bearer "+tok), rawHeader("Cookie", "theme=dark; access_token_refresh=r1")))
	if len(e.Headers["Authorization"]) != 0 || strings.Join(e.Headers["Cookie"], ";") != "theme=dark" {
		t.Errorf("bearer: upstream got Authorization %q, Cookie %q", e.Headers["Authorization"], e.Headers["Cookie"])
	}
	e = decodeEcho(t, "cookie", get(t, "/x", rawHeader("Cookie", "access_token="+tok+"; lang=en; access_token_refresh=r1")))
	if got := strings.Join(e.Headers["Cookie"], ";"); got != "lang=en" {
		t.Errorf("cookie: upstream got Cookie %q, want lang=en", got)
	}

	startCaddy(t, cfg("from query token"))
	e = decodeEcho(t, "query", get(t, "/x?a=1&token="+tok+"&b=2"))
	if e.Target != "/x?a=1&b=2" {
		t.Errorf("query: upstream got %q, want /x?a=1&b=2", e.Target)
	}

	startCaddy(t, cfg("forward_token"))
	e = decodeEcho(t, "forward_token", get(t, "/x", header("Authorization", "Bearer "+tok), rawHeader("Cookie", "access_token_refresh=r1")))
	if got := e.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer "+tok || len(e.Headers["Cookie"]) != 0 {
		t.Errorf("forward_token: upstream got Authorization %q, Cookie %q", got, e.Headers["Cookie"])
	}
}

// TestGuardAnonymousPlaceholders: an anonymous request (optional without a
// token, an except path) reads {http.auth.user.*} as empty, not as the
// placeholder's literal text.
func TestGuardAnonymousPlaceholders(t *testing.T) {
	startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64, "optional", "except /public/*")+
		"\n\t}\n\trespond \"Hello [{http.auth.user.id}] [{http.auth.user.email}]\" 200\n"+errorsBlock))
	for _, path := range []string{"/", "/public/a"} {
		if r := get(t, path); r.Status != http.StatusOK || r.Body != "Hello [] []" {
			t.Errorf("%s anonymously: %s, want 200 \"Hello [] []\"", path, r)
		}
	}
	if r := get(t, "/", bearer(hs(t, "alice", map[string]any{"email": "a@example.com"}))); r.Body != "Hello [alice] [a@example.com]" {
		t.Errorf("with a token: %s", r)
	}
}

// TestGuardNested: a jwt_auth nested after another (route /admin/* {
// jwt_auth { require ... } }) checks the same token with its own rules,
// although the first one removed it from the request; the upstream still
// sees no token, and a request with no token is refused by the first.
func TestGuardNested(t *testing.T) {
	up := echoServer(t)
	startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64)+"\n\t}\n"+
		"\troute /admin/* {\n\t\tjwt_auth {\n"+lines("secret "+hmac64, "require role admin")+"\n\t\t}\n\t}\n"+
		"\treverse_proxy "+up.addr+" {\n\t\theader_up X-Vars {http.vars.caddyjwt.earlier_token}\n\t}\n"+errorsBlock))
	admin := hs(t, "root", map[string]any{"role": "admin"})
	user := hs(t, "bob", map[string]any{"role": "user"})
	for name, opt := range map[string]reqOpt{"bearer": bearer(admin), "cookie": cookie("access_token", admin)} {
		e := decodeEcho(t, "admin page, "+name, get(t, "/admin/x", opt))
		if len(e.Headers["Authorization"]) != 0 || len(e.Headers["Cookie"]) != 0 || strings.Contains(strings.Join(e.Headers["X-Vars"], ""), admin) {
			t.Errorf("%s: the upstream saw the token: %v", name, e.Headers)
		}
	}
	decodeEcho(t, "other page, user", get(t, "/x", bearer(user)))
	wantForbidden(t, "admin page, user", get(t, "/admin/x", bearer(user)))
	wantMissing(t, "admin page, no token", get(t, "/admin/x"))
}
