package integration

// Attacks on the identity passed on (see the table in attack_test.go):
// claim injection into headers and placeholders, spoofed identity
// headers, and except-path bypasses.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAttackClaimInjection: claim values are data. One holding a control
// character (C0, DEL, or C1 such as U+0085) is never written into a
// claim_header header, so no header can be injected upstream; long values
// arrive whole; placeholders inside claims are never expanded, neither in
// claim headers nor where {http.auth.user.*} is used in a response body
// or header.
func TestAttackClaimInjection(t *testing.T) {
	up := echoServer(t)
	claimsIn := map[string]any{
		"c_esc":    "a\x1bb",
		"c_soh":    "\x01",
		"c_vt":     "a\x0bb",
		"c_ff":     "a\x0cb",
		"c_us":     "a\x1fb",
		"c_del":    "a\x7fb",
		"c_crlf":   "alice\r\nX-Injected: 1",
		"c_lf":     "alice\nX-Injected: 1",
		"c_nel":    "alice\u0085X-Injected: 1",
		"c_csi":    "a\u009b31m",
		"c_arr":    []any{"ok", "a\r\nX-Injected: 1"},
		"c_obj":    map[string]any{"k": "a\nb"},
		"c_long":   strings.Repeat("L", 9000),
		"c_env":    "{env.HOME}",
		"c_auth":   "{http.request.header.Authorization}",
		"c_file":   "{file./etc/hostname}",
		"c_id":     "{http.auth.user.id}",
		"c_nested": "{http.auth.user.{http.request.host}}",
	}
	want := map[string][]string{
		"c_esc": nil, "c_soh": nil, "c_vt": nil, "c_ff": nil, "c_us": nil, "c_del": nil, "c_crlf": nil, "c_lf": nil,
		"c_nel": nil, "c_csi": nil, "c_arr": nil,
		"c_obj":    {`{"k":"a\nb"}`},
		"c_long":   {strings.Repeat("L", 9000)},
		"c_env":    {"{env.HOME}"},
		"c_auth":   {"{http.request.header.Authorization}"},
		"c_file":   {"{file./etc/hostname}"},
		"c_id":     {"{http.auth.user.id}"},
		"c_nested": {"{http.auth.user.{http.request.host}}"},
	}
	block := []string{"secret " + hmac64, "claim_header sub X-User"}
	for name := range claimsIn {
		block = append(block, "claim_header "+name+" X-"+strings.ReplaceAll(name, "_", "-"))
	}
	startCaddy(t, siteConfig("\tjwt_auth {\n"+lines(block...)+"\n\t}\n\treverse_proxy "+up.addr+"\n"+errorsBlock))
	tok := hs(t, "alice", claimsIn)
	if len(tok) > 16<<10 {
		t.Fatalf("token is %d bytes", len(tok))
	}
	e := decodeEcho(t, "claims into headers", get(t, "/", bearer(tok)))
	if got := headerValues(e.Headers, "X-User"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-User %q, want [alice]", got)
	}
	for name, w := range want {
		h := "X-" + strings.ReplaceAll(name, "_", "-")
		got := headerValues(e.Headers, h)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", w) && !(len(got) == 0 && len(w) == 0) {
			t.Errorf("claim %s: upstream got %s %.80q, want %.80q", name, h, got, w)
		}
	}
	for name, vs := range e.Headers {
		if strings.EqualFold(name, "X-Injected") {
			t.Errorf("a claim injected the header %s: %q", name, vs)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00\u0085") {
				t.Errorf("header %s carries a control character: %q", name, v)
			}
		}
	}

	// In a response body and a response header through placeholders.
	startCaddy(t, siteConfig(`	route {
		jwt_auth {
			secret `+hmac64+`
		}
		header X-Who "{http.auth.user.id}"
		respond "{http.auth.user.id}|{http.auth.user.c_env}|{http.auth.user.c_auth}|{http.auth.user.c_file}|{http.auth.user.c_id}|{http.auth.user.c_nested}|{http.auth.user.c_obj}" 200
	}
`+errorsBlock))
	r := get(t, "/", bearer(hs(t, "{env.HOME}", claimsIn)))
	wantOK(t, "placeholders in claims, in a body", r,
		`{env.HOME}|{env.HOME}|{http.request.header.Authorization}|{file./etc/hostname}|{http.auth.user.id}|{http.auth.user.{http.request.host}}|{"k":"a\nb"}`)
	if got := r.Header.Get("X-Who"); got != "{env.HOME}" {
		t.Errorf("X-Who %q, want the claim unexpanded", got)
	}
	// A sub with CR LF through a placeholder into a response header: the
	// guard leaves placeholders as they are; net/http writes no second
	// header line.
	r = get(t, "/", bearer(hs(t, "alice\r\nSet-Cookie: planted=1", nil)))
	if r.Status != http.StatusOK || len(r.Header.Values("Set-Cookie")) > 0 {
		t.Errorf("sub with CR LF in a response header: got %d, Set-Cookie %q", r.Status, r.Header.Values("Set-Cookie"))
	}
}

// TestAttackSpoofedIdentity: client copies of the claim_header headers —
// any case, repeated, '_' for '-', named in Connection, sent as trailers —
// never reach the upstream's header section as identity: with a valid
// token, on an except path, in a preflight, anonymously under optional;
// and a refused request never reaches the upstream at all. Caddy itself
// drops headers with '_' unless expected_underscore_headers names them
// (and then drops their '-' spellings and repeated values), so the '_'
// forms are sent, one each, to a server that lets them through.
func TestAttackSpoofedIdentity(t *testing.T) {
	up := echoServer(t)
	cfg := func(global string, extra ...string) string {
		g := globalBlock
		if global != "" {
			g = globalBlockWith(global)
		}
		return g + "\n" + baseURL + " {\n\tjwt_auth {\n" +
			lines(append([]string{"secret " + hmac64, "claim_header sub X-User", "claim_header role X-Role", "except /public/*"}, extra...)...) +
			"\n\t}\n\treverse_proxy " + up.addr + "\n" + errorsBlock + "}\n"
	}
	tok := hs(t, "alice", map[string]any{"role": "admin"})
	dashes := "X-User: mallory-1\r\nx-user: mallory-2\r\nX-USER: mallory-3\r\nx-User: mallory-4\r\nX-Role: mallory-5\r\nx-ROLE: mallory-6\r\n" +
		"X_User: mallory-7\r\nx_role: mallory-8\r\n"
	underscores := "x_user: mallory-9\r\nX_ROLE: mallory-10\r\n"
	send := func(spoof, method, target, extra string) response {
		return rawRequest(t, method+" "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\n"+spoof+extra+"Connection: close\r\n\r\n")
	}
	check := func(label string, r response, user, role []string) {
		t.Helper()
		e := decodeEcho(t, label, r)
		for h, w := range map[string][]string{"X-User": user, "X-Role": role} {
			if got := headerValues(e.Headers, h); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", w) && !(len(got) == 0 && len(w) == 0) {
				t.Errorf("%s: upstream got %s %q, want %q", label, h, got, w)
			}
		}
		for name, vs := range e.Headers {
			for _, v := range vs {
				if strings.Contains(v, "mallory") {
					t.Errorf("%s: upstream got the client's %s: %q", label, name, v)
				}
			}
		}
	}
	auth := "Authorization: Bearer " + tok + "\r\n"
	preflight := "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"
	alice, admin := []string{"alice"}, []string{"admin"}
	chunked := func(target, extra, trailers string) response {
		return rawRequest(t, "POST "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\n"+extra+
			"Transfer-Encoding: chunked\r\nTrailer: X-User, X-Role\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n"+trailers+"\r\n")
	}

	t.Run("any case, repeated", func(t *testing.T) {
		startCaddy(t, cfg(""))
		check("valid token", send(dashes, "GET", "/api", auth), alice, admin)
		check("valid token, Connection naming them", send(dashes, "GET", "/api", auth+"Connection: X-User, x-role\r\n"), alice, admin)
		check("valid token, Connection naming them twice", send(dashes, "GET", "/api", auth+"Connection: keep-alive\r\nConnection: x-user,X-ROLE\r\n"), alice, admin)
		check("except path", send(dashes, "GET", "/public/x", ""), nil, nil)
		check("except path, Connection naming them", send(dashes, "GET", "/public/x", "Connection: X-User\r\n"), nil, nil)
		check("preflight", send(dashes, "OPTIONS", "/api", preflight), nil, nil)
		check("preflight, Connection naming them", send(dashes, "OPTIONS", "/api", preflight+"Connection: x-user\r\n"), nil, nil)
		check("trailers, valid token", chunked("/api", auth, "X-User: mallory\r\nX-Role: mallory\r\n"), alice, admin)
		check("trailers, except path", chunked("/public/x", "", "X-User: mallory\r\nX-Role: mallory\r\n"), nil, nil)
		before := len(up.seen())
		wantMissing(t, "no token", send(dashes, "GET", "/api", ""))
		wantInvalid(t, "bad token", send(dashes, "GET", "/api", "Authorization: Bearer x.y.z\r\n"), "malformed", "token malformed")
		wantMissing(t, "OPTIONS that is no preflight", send(dashes, "OPTIONS", "/api", "Origin: https://app.example\r\n"))
		if n := len(up.seen()) - before; n != 0 {
			t.Errorf("refused requests reached the upstream %d times", n)
		}
	})
	t.Run("'_' for '-', let through by Caddy", func(t *testing.T) {
		startCaddy(t, cfg("\tservers {\n\t\texpected_underscore_headers x_user x_role\n\t}"))
		check("valid token", send(underscores, "GET", "/api", auth), alice, admin)
		check("valid token, Connection naming them", send(underscores, "GET", "/api", auth+"Connection: x_user, X_ROLE\r\n"), alice, admin)
		check("except path", send(underscores, "GET", "/public/x", ""), nil, nil)
		check("preflight", send(underscores, "OPTIONS", "/api", preflight), nil, nil)
		check("trailers, except path", chunked("/public/x", "", "x_user: mallory\r\n"), nil, nil)
	})
	t.Run("optional", func(t *testing.T) {
		startCaddy(t, cfg("", "optional"))
		check("anonymous", send(dashes, "GET", "/api", ""), nil, nil)
		check("anonymous, Connection naming them", send(dashes, "GET", "/api", "Connection: X-User, X-Role\r\n"), nil, nil)
		check("anonymous, trailers", chunked("/api", "", "X-User: mallory\r\n"), nil, nil)
		check("valid token", send(dashes, "GET", "/api", auth), alice, admin)
		wantInvalid(t, "bad token", send(dashes, "GET", "/api", "Authorization: Bearer x.y.z\r\n"), "malformed", "token malformed")
	})
	t.Run("optional, '_' for '-'", func(t *testing.T) {
		startCaddy(t, cfg("\tservers {\n\t\texpected_underscore_headers x_user x_role\n\t}", "optional"))
		check("anonymous", send(underscores, "GET", "/api", ""), nil, nil)
	})
}

// TestAttackExceptPaths: no crafted request target reaches a guarded
// resource through except. With file_server, the target is resolved by
// Caddy; with reverse_proxy, the target goes upstream byte for byte, and
// an upstream may read ';', '\', a second round of decoding, a NUL or a
// segment of dots and spaces otherwise than Caddy's matcher: such targets
// need a token and never reach the upstream without one.
func TestAttackExceptPaths(t *testing.T) {
	t.Run("file_server", func(t *testing.T) {
		root := keyDir(t)
		writeTree(t, root, map[string]string{"public/index.txt": "PUBLIC", "secret.txt": "TOPSECRET", "favicon.ico": "ICON"})
		startCaddy(t, siteConfig("\troot * "+root+"\n\tjwt_auth {\n"+lines("secret "+hmac64, "except /public/* *.ico /exact")+"\n\t}\n\tfile_server\n"+errorsBlock))
		wantOK(t, "public file", get(t, "/public/index.txt"), "PUBLIC")
		for _, target := range []string{
			"/PUBLIC/../secret.txt", "/Public/%2E%2E/secret.txt", "/public./../secret.txt", "/public/.../secret.txt",
			"/public/..;/secret.txt", "/public;/../secret.txt", "/public/..%3bsecret.txt", "/public/..\\secret.txt",
			"/public\\..\\secret.txt", "/public/..%5csecret.txt", "/public/..%5Csecret.txt", "/public/%252e%252e/secret.txt",
			"/public/%252e%252e%252fsecret.txt", "/public/.%2e/secret.txt", "/public/%2e./secret.txt", "/%70ublic/../secret.txt",
			"/public/%c0%ae%c0%ae/secret.txt", "/public/%00/../secret.txt", "/public/..%00/secret.txt", "/./public/../secret.txt",
			"/public/..%20/secret.txt", "/exact/../secret.txt", "/exact%2f..%2fsecret.txt", "/secret.txt.", "/secret.txt%20",
			"/secret.txt%3f.ico", "/secret.txt%23.ico", "/secret.txt/.ico", "/secret.txt%2f.ico", "/secret.txt%5c.ico",
			"/secret.txt;x.ico", "/secret.txt%3b.ico", "/secret.txt%00.ico", "/secret.txt%252e.ico",
			"http://" + siteHost + "/public/../secret.txt", "http://" + siteHost + "/public/..;/secret.txt",
		} {
			r := rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n")
			wantNotServed(t, target, r, "TOPSECRET")
		}
	})
	t.Run("reverse_proxy", func(t *testing.T) {
		up := echoServer(t)
		startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64, "except /public/* *.ico")+"\n\t}\n\treverse_proxy "+up.addr+"\n"+errorsBlock))
		for _, target := range []string{"/public/x", "/public/a/b.css", "/public/", "/favicon.ico", "/public/x.ico", "/public/a..b", "/public/.well-known/x"} {
			e := decodeEcho(t, target, rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n"))
			if e.Target != target {
				t.Errorf("%s: upstream got %q", target, e.Target)
			}
		}
		ambiguous := []string{
			"/public/..;/admin", "/public/..;x=1/admin", "/public/%2e%2e;/admin", "/public/..%3b/admin", "/public/.;/../admin",
			"/public/..\\admin", "/public\\..\\admin", "/public/..%5cadmin", "/public/..%5Cadmin",
			"/public/%252e%252e/admin", "/public/%252e%252e%252fadmin", "/public/%25%32%65%25%32%65/admin", "/public/%2e%2e%252fadmin",
			"/public/..%00/admin", "/public/%00", "/public/..%20/admin", "/public/.%20./admin", "/public/..../admin", "/public/.../admin",
			"/public/x%09", "/public/%0d%0aX-Injected:%201",
			"/admin;.ico", "/admin%3b.ico", "/admin%00.ico", "/admin%5c.ico", "/admin%3f.ico", "/admin%23.ico", "/admin%252e.ico",
			"/public/x;jsessionid=1",
		}
		for _, target := range ambiguous {
			r := rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n")
			wantMissing(t, target, r)
		}
		seen := strings.Join(up.seen(), "\n")
		for _, target := range ambiguous {
			if strings.Contains("\n"+seen+"\n", "\n"+target+"\n") {
				t.Errorf("%s reached the upstream without a token", target)
			}
		}
		tok := hs(t, "alice", nil)
		e := decodeEcho(t, "ambiguous target with a token", rawRequest(t, "GET /public/..;/admin HTTP/1.1\r\nHost: "+siteHost+
			"\r\nAuthorization: Bearer "+tok+"\r\nConnection: close\r\n\r\n"))
		if e.Target != "/public/..;/admin" {
			t.Errorf("with a token the upstream got %q", e.Target)
		}
	})
}
