package caddyjwt

// Fuzz targets for what reads untrusted or hand-written input: tokens and
// where they are found, the Caddyfile, claim rules, the login return URL
// and the users file. `go test -run '^$' -fuzz '^FuzzX$' .` runs one long;
// a failing input lands in testdata/fuzz/FuzzX and stays as a seed.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/bcrypt"
)

// FuzzExtract builds a request from fuzzed Authorization, Cookie, X-Token
// and query values (lines are separate header values) and holds extract
// to the spec's token sources, written out independently: the first
// source present wins, Bearer matched case-insensitively, values trimmed,
// empty ones absent, two different values refused.
func FuzzExtract(f *testing.F) {
	handlers := []*Handler{
		mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n}"),
		mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n from query token\n from header X-Token\n from cookie sess\n from header authorization\n}"),
	}
	for _, seed := range [][4]string{
		{"Bearer abc", "", "", ""},
		{"bEaReR  abc ", "access_token=c", "", ""},
		{"Basic dXNlcjpwYXNz", "access_token=c", "", ""},
		{"Bearer ", "access_token=", "", ""},
		{"Bearer a\nBearer b", "", "", ""},
		{"Bearer a\nbearer a", "", "", ""},
		{"Bearer\tabc", "", "", ""},
		{"", "access_token=a; access_token=a", "", ""},
		{"", "access_token=a; access_token=b", "", ""},
		{"", "access_token=a\naccess_token=b", "", ""},
		{"", `access_token="q"; sess=s`, "token=t&token=t", "x"},
		{"", "sess=a; sess=b", "", " x \n x"},
		{"", "", "token=a&token=b", ""},
		{"", "", "token=%20&token=", "y"},
		{"", "", "token=a;b", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, auth, cookie, query, xtoken string) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.URL.RawQuery = query
		for name, lines := range map[string]string{"Authorization": auth, "Cookie": cookie, "X-Token": xtoken} {
			if lines == "" {
				continue
			}
			for v := range strings.SplitSeq(lines, "\n") {
				r.Header.Add(name, v)
			}
		}
		for _, h := range handlers {
			tok, fromCookie, err := h.extract(r)
			wantTok, wantCookie, wantErr := extractOracle(h.tokenFrom, r)
			if tok != wantTok || fromCookie != wantCookie || err != wantErr {
				t.Fatalf("extract from %v = %q, %v, %v; want %q, %v, %v", h.tokenFrom, tok, fromCookie, err, wantTok, wantCookie, wantErr)
			}
			if err == nil && (tok == "" || strings.TrimSpace(tok) != tok) {
				t.Fatalf("extract gave %q", tok)
			}
		}
	})
}

// extractOracle is the spec's reading of the token sources.
func extractOracle(sources []TokenSource, r *http.Request) (string, bool, error) {
	for _, s := range sources {
		var candidates []string
		switch s.Source {
		case "header":
			for _, v := range r.Header[http.CanonicalHeaderKey(s.Name)] {
				if strings.EqualFold(s.Name, "Authorization") {
					v = strings.TrimSpace(v)
					if len(v) < len("Bearer ") || !strings.EqualFold(v[:len("Bearer ")], "Bearer ") {
						continue
					}
					v = v[len("Bearer "):]
				}
				candidates = append(candidates, v)
			}
		case "cookie":
			for _, c := range r.Cookies() {
				if c.Name == s.Name {
					candidates = append(candidates, c.Value)
				}
			}
		case "query":
			q, _ := url.ParseQuery(r.URL.RawQuery)
			candidates = q[s.Name]
		}
		distinct := map[string]bool{}
		for _, c := range candidates {
			if c = strings.TrimSpace(c); c != "" {
				distinct[c] = true
			}
		}
		switch len(distinct) {
		case 0:
			continue
		case 1:
			for tok := range distinct {
				return tok, s.Source == "cookie", nil
			}
		}
		return "", s.Source == "cookie", errMalformed
	}
	return "", false, errMissing
}

// FuzzUnmarshalCaddyfile parses fuzzed jwt_auth blocks. It never panics;
// an error names the file and line; an accepted block (the parser checks
// syntax only) either passes Validate or is refused by it with the name of
// a subdirective, marshals to JSON that reads back to the same JSON, and parsing the text
// again gives the same JSON. Texts the Caddyfile lexer refuses, and
// empty ones, are skipped: NewTestDispenser would log.Fatal on the
// former, so the target makes its dispenser from caddyfile.Tokenize.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"jwt_auth {\n secret " + testSecret + "\n}",
		"jwt_auth {\n secret {env.JWT_SECRET}\n key /etc/jwt/a.pem a\n key /etc/jwt/b.json\n algorithms ES256 HS256\n" +
			" issuer https://a.example https://b.example\n audience api\n leeway 1m\n max_lifetime 24h\n allow_missing_exp\n" +
			" require realm_access.roles admin\n require scope read write\n require sub\n}",
		"jwt_auth {\n jwks https://idp.example/jwks\n oidc http://127.0.0.1:9000/\n from header X-Token\n from cookie sess\n from query t\n" +
			" optional\n redirect /login\n except /public/* /health\n claim_header sub X-User\n claim_header email X_Email\n}",
		"jwt_auth {\n key auto EdDSA {\n rotate 720h\n }\n login /auth/login\n refresh /auth/refresh\n logout /auth/logout\n" +
			" jwks_endpoint /.well-known/jwks.json\n user alice $2a$14$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n" +
			" users_file /etc/jwt/users.json\n access_ttl 5m\n refresh_ttl 0\n cookie sid {\n domain example.com\n path /app\n same_site strict\n insecure\n }\n" +
			" login_limit 3 30s\n login_page /etc/jwt/login.html\n trusted_origins https://app.example\n}",
		"jwt_auth {\n key auto\n cookie {\n }\n}",
		"jwt_auth arg {\n}",
		"jwt_auth {\n secret a\n secret b\n}",
		"jwt_auth {\n require \"\"\n}",
		"jwt_auth {\n redirect https://login.example/?next=1\n}",
		"jwt_auth {\n claim_header sub \"X User\"\n}",
		"jwt_auth {\n leeway 1d\n}",
		"jwt_auth {\n secret `a b`\n issuer <<EOF\n x\n EOF\n}",
		"jwt_auth {\n cookie {\n same_site none\n } \n cookie x {\n }\n}",
		"jwt_auth",
		"jwt_auth {\n {\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		parse := func() (*Handler, []byte, error) {
			tokens, err := caddyfile.Tokenize([]byte(text), "Testfile")
			if err != nil || len(tokens) == 0 { // Caddy calls it with at least the directive's token
				return nil, nil, errLexer
			}
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
				return nil, nil, err
			}
			js, err := json.Marshal(h)
			if err != nil {
				t.Fatalf("accepted %q, but it does not marshal: %v", text, err)
			}
			return h, js, nil
		}
		h, js, err := parse()
		if err == errLexer {
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("%q: the error does not name the file and line: %v", text, err)
			}
			return
		}
		if err := h.Validate(); err != nil {
			head, _, _ := strings.Cut(err.Error(), ":")
			if !validateNames[head] {
				t.Fatalf("Validate refuses %q without naming a subdirective: %v", text, err)
			}
		}
		var back Handler
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("the JSON of %q does not read back: %v", text, err)
		}
		if again, _ := json.Marshal(&back); !bytes.Equal(again, js) {
			t.Fatalf("the JSON of %q changes when read back:\n%s\n%s", text, js, again)
		}
		if _, js2, err := parse(); err != nil || !bytes.Equal(js, js2) {
			t.Fatalf("a second parse of %q differs: %v\n%s\n%s", text, err, js, js2)
		}
	})
}

// validateNames are the subdirectives Validate's errors start with.
var validateNames = map[string]bool{
	"key": true, "key auto": true, "jwks": true, "oidc": true, "leeway": true, "max_lifetime": true,
	"require": true, "from": true, "redirect": true, "claim_header": true, "login": true, "refresh": true,
	"logout": true, "jwks_endpoint": true, "access_ttl": true, "refresh_ttl": true, "user": true,
	"cookie": true, "login_limit": true, "trusted_origins": true, "issuer": true,
}

// errLexer marks a text the Caddyfile lexer refuses, or an empty one.
var errLexer = errors.New("lexer error")

// FuzzSafeReturn holds the login return target: the result is the input
// or "/"; what is kept starts with one slash, has no backslash, no
// control character, no scheme, no "//" or dot segment in its path, and
// neither does it once percent-decoded;
// a browser resolving it, or the Location header http.Redirect makes of
// it, against https://site.example/login stays on site.example; and a
// plain path of safe characters is kept.
func FuzzSafeReturn(f *testing.F) {
	for _, seed := range []string{
		"/docs?page=2#top", "/", "", "docs", "//evil.example", "///evil.example", "/\\evil.example", "/x\\y",
		"https://evil.example/", "javascript:alert(1)", "/%2F%2Fevil.example", "/%2f/evil.example", "/%5Cevil.example",
		"/\t/evil.example", "/\r\nSet-Cookie: x=y", "/%0d%0aSet-Cookie:%20x", "/ok/%2e%2e/fine", "/%", "/a:b",
		"/?next=http://evil.example", "/..//evil.example", "/./%2F/x", " /x", "/x ", "/\x7f", "/\u2028",
		"/%E2%80%A8", "/a/../../evil", "/@evil.example", "/%09/evil.example",
	} {
		f.Add(seed)
	}
	base, _ := url.Parse("https://site.example/login")
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturn(s)
		if got != "/" && got != s {
			t.Fatalf("safeReturn(%q) = %q: neither the input nor /", s, got)
		}
		if got == "/" {
			if plainPath(s) && s != "/" {
				t.Fatalf("safeReturn refused the plain path %q", s)
			}
			return
		}
		forms := []string{got}
		if unescaped, err := url.PathUnescape(got); err == nil {
			forms = append(forms, unescaped)
		}
		for _, form := range forms {
			if !strings.HasPrefix(form, "/") || foldablePath(form) || strings.Contains(form, `\`) || controlOracle(form) {
				t.Fatalf("safeReturn kept %q (as %q)", s, form)
			}
			if u, err := url.Parse(form); err == nil && (u.Scheme != "" || u.Host != "" || u.User != nil) {
				t.Fatalf("safeReturn kept %q, which has a scheme or host", s)
			}
		}
		if u, err := browserResolve(base, got); err != nil || u.Host != "site.example" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("safeReturn kept %q, which a browser resolves to %v (%v)", s, u, err)
		}
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest(http.MethodPost, "https://site.example/login", nil), got, http.StatusSeeOther)
		loc := w.Header().Get("Location")
		if u, err := browserResolve(base, loc); err != nil || u.Host != "site.example" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("safeReturn kept %q; redirected to %q, which a browser resolves to %v (%v)", s, loc, u, err)
		}
	})
}

// browserResolve resolves a reference as a browser does for an https base
// (the WHATWG URL parser): leading and trailing C0 controls and spaces are
// dropped, tabs and newlines removed anywhere, and a backslash is a slash.
func browserResolve(base *url.URL, ref string) (*url.URL, error) {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= ' ' })
	ref = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, ref)
	return base.Parse(ref)
}

// plainPath is a path of unreserved characters and slashes, with a query
// or fragment of the same, and no "//" or dot segment: always a safe
// return target.
func plainPath(s string) bool {
	return strings.HasPrefix(s, "/") && !foldablePath(s) &&
		strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/?=&#") == ""
}

// foldablePath tells whether the path part of s (before any ? or #) holds
// "//" or a "." or ".." segment, which a browser may fold into a leading
// "//".
func foldablePath(s string) bool {
	path := s
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		path = s[:i]
	}
	segs := strings.Split(path, "/")
	return strings.Contains(path, "//") || slices.Contains(segs, ".") || slices.Contains(segs, "..")
}

// FuzzParseUsersFile parses fuzzed users files, JSON or htpasswd. It never
// panics; an error returns no users at all; every user accepted has a
// bcrypt or argon2id hash that decodes; and the users are those of the
// file: for JSON, as encoding/json reads a valid JSON file; for htpasswd,
// the name:hash of each line that is not blank or a # comment.
func FuzzParseUsersFile(f *testing.F) {
	bcryptHash := string(caddyauth.BcryptHash{}.FakeHash())
	argonHash := string(caddyauth.Argon2idHash{}.FakeHash())
	for _, seed := range []string{
		`{"alice": {"password": "` + bcryptHash + `", "claims": {"role": "admin", "n": 7}}, "carol": {"password": "` + argonHash + `", "disabled": true}}`,
		"# comment\n\nbob:" + bcryptHash + "\r\n  dave:" + strings.Replace(bcryptHash, "$2a$", "$2y$", 1) + "\neve:" + argonHash,
		"bob:" + strings.Replace(bcryptHash, "$2a$", "$2b$", 1) + "\nbob:" + bcryptHash,
		`{"alice": {"password": "plaintext"}}`,
		`{"alice": `,
		`{"alice": {"password": "` + bcryptHash + `"}} {"bob": {}}`,
		`{"alice": null}`,
		`{"": {"password": "` + bcryptHash + `", "name": "x", "PASSWORD": "` + argonHash + `"}}`,
		"bob\n",
		":" + bcryptHash,
		"bob:$2a$10$short\n",
		"bob:{SHA}abc=\n",
		"bob:" + bcryptHash + "\nbad\n",
		"eve:$argon2id$v=19$m=bad\n",
		"eve:$argon2id$v=19$m=8192,t=1,p=1$mMh5Mf0AwqPy+T5NWss97g$Cs+pgAhf0awK9Z3kmI4p4v5c+DKDEERzm0KhMeQ52bU",
		"",
		"  {",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := parseUsersFile(data)
		if err != nil {
			if users != nil {
				t.Fatalf("a parse error (%v) returned users: %v", err, users)
			}
			return
		}
		for name, a := range users {
			hash := string(a.hash)
			isBcrypt := strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
			switch {
			case a.comparer == nil || a.bcrypt != isBcrypt:
				t.Fatalf("user %q: comparer %T, bcrypt %v, for %q", name, a.comparer, a.bcrypt, hash)
			case isBcrypt:
				if _, err := bcrypt.Cost(a.hash); err != nil {
					t.Fatalf("user %q: accepted bcrypt hash %q: %v", name, hash, err)
				}
			case strings.HasPrefix(hash, "$argon2id$"):
				if _, _, err := caddyauth.DecodeHash(a.hash); err != nil {
					t.Fatalf("user %q: accepted argon2id hash %q: %v", name, hash, err)
				}
			default:
				t.Fatalf("user %q: accepted hash %q, neither bcrypt nor argon2id", name, hash)
			}
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
			checkJSONUsers(t, trimmed, users)
		} else {
			checkHtpasswdUsers(t, data, users)
		}
	})
}

func checkJSONUsers(t *testing.T, data []byte, users map[string]*account) {
	t.Helper()
	if !json.Valid(data) {
		t.Fatalf("accepted a users file that is not valid JSON: %q", data)
	}
	var entries map[string]struct {
		Password string
		Claims   map[string]any
		Disabled bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&entries); err != nil {
		t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
	}
	if len(entries) != len(users) {
		t.Fatalf("%d users from %d entries: %q", len(users), len(entries), data)
	}
	for name, e := range entries {
		a := users[name]
		if a == nil || string(a.hash) != e.Password || a.disabled != e.Disabled || !reflect.DeepEqual(a.claims, e.Claims) {
			t.Fatalf("user %q read as %+v, the file says %+v", name, a, e)
		}
	}
}

func checkHtpasswdUsers(t *testing.T, data []byte, users map[string]*account) {
	t.Helper()
	want := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			t.Fatalf("accepted a line without name:hash: %q", line)
		}
		want[line[:i]] = line[i+1:]
	}
	if len(want) != len(users) {
		t.Fatalf("%d users from %d names: %q", len(users), len(want), data)
	}
	for name, hash := range want {
		if a := users[name]; a == nil || string(a.hash) != hash {
			t.Fatalf("user %q read as %v, the file says %q", name, a, hash)
		}
	}
}
