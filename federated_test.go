package caddyjwt

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// idpBlock is a jwt_auth block with one identity provider whose body is
// given, on a loopback issuer nobody answers.
func idpBlock(body string, more ...string) string {
	return "jwt_auth {\n secret " + testSecret + "\n login /auth/login\n refresh /auth/refresh\n logout /auth/logout\n" +
		strings.Join(more, "\n") + "\n identity_provider test http://127.0.0.1:1 {\n" + body + "\n }\n}"
}

const idpOK = " client_id app\n client_secret s3cret\n allow email a@example.com"

// TestIdentityProviderConfigErrors: each mistake is refused at load with
// the subdirective's name.
func TestIdentityProviderConfigErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{idpBlock(" client_secret s\n allow email a@example.com"), "identity_provider test: client_id is required"},
		{idpBlock(" client_id app\n allow email a@example.com"), "identity_provider test: client_secret is required"},
		{idpBlock(" client_id app\n client_secret s"), "identity_provider test: allow is required"},
		{strings.Replace(idpBlock(idpOK), "http://127.0.0.1:1", "http://idp.example", 1), "identity_provider test: issuer: http:// is allowed only for loopback hosts"},
		{strings.Replace(idpBlock(idpOK), "http://127.0.0.1:1", "idp.example", 1), "identity_provider test: issuer: not an absolute URL"},
		{strings.Replace(idpBlock(idpOK), "identity_provider test", "identity_provider te/st", 1), "identity_provider: name \"te/st\""},
		{strings.Replace(idpBlock(idpOK), "identity_provider test", "identity_provider été", 1), "identity_provider: name"},
		{idpBlock(idpOK + "\n claims sub"), "identity_provider test: claims: \"sub\" cannot be copied"},
		{idpBlock(idpOK + "\n claims idp"), "identity_provider test: claims: \"idp\" cannot be copied"},
		{idpBlock(idpOK, " user test:alice $2a$04$abcdefghijklmnopqrstuu"), "user \"test:alice\": a name starting with \"test:\" is reserved"},
		{strings.Replace(idpBlock(idpOK), " refresh /auth/refresh", " refresh /auth/login/test", 1), "identity_provider test: its path /auth/login/test is the refresh endpoint"},
		{strings.Replace(idpBlock(idpOK), " login /auth/login\n refresh /auth/refresh\n", "", 1), "identity_provider: needs login"},
		{strings.Replace(idpBlock(idpOK), " client_secret s3cret", " client_secret {env.CADDYJWT_TEST_UNSET_SECRET}", 1), "identity_provider test: client_secret: empty once its placeholders are resolved"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := provision(t, tc.block)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error holding %q", err, tc.want)
			}
		})
	}
}

// TestIdentityProviderCaddyfile: the block parses into its JSON, syntax
// mistakes are refused by the parser with the provider's name, and a
// site with providers and no password users loads.
func TestIdentityProviderCaddyfile(t *testing.T) {
	var h Handler
	block := idpBlock(" client_id app\n client_secret s\n scopes openid email\n allow email a@example.com b@example.com\n allow hd example.com\n claims email groups")
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.IdentityProviders)
	want := `[{"name":"test","issuer":"http://127.0.0.1:1","client_id":"app","client_secret":"s","scopes":["openid","email"],` +
		`"allow":[{"claim":"email","values":["a@example.com","b@example.com"]},{"claim":"hd","values":["example.com"]}],"claims":["email","groups"]}]`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, tc := range []struct{ body, want string }{
		{idpOK + "\n client_id again", "client_id: given more than once"},
		{idpOK + "\n allow email", "allow: expected <claim> <value>..."},
		{idpOK + "\n scopes", "scopes: at least one value expected"},
		{idpOK + "\n colour blue", "unknown option \"colour\""},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(idpBlock(tc.body)))
		if err == nil || !strings.Contains(err.Error(), "identity_provider test: "+tc.want) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.want)
		}
	}
	var bare Handler
	if err := bare.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n identity_provider test\n}")); err == nil {
		t.Error("identity_provider without an issuer URL was accepted")
	}
	mustProvision(t, idpBlock(idpOK)) // no user, no users_file: the provider is the user source
}

// TestIdentityProviderLoginPage: the built-in page shows one "Sign in
// with" link per provider, keeping return, and no password form on a
// site without password users; a site with both shows both.
func TestIdentityProviderLoginPage(t *testing.T) {
	page := func(h *Handler) string {
		w := httptest.NewRecorder()
		serveWith(t, h, w, httptest.NewRequest(http.MethodGet, "http://example.com/auth/login?return=/docs/a%20b", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("login page: %d", w.Code)
		}
		return w.Body.String()
	}
	only := page(mustProvision(t, idpBlock(idpOK)))
	if !strings.Contains(only, `<a class="idp" href="/auth/login/test?return=%2Fdocs%2Fa&#43;b">Sign in with test</a>`) {
		t.Errorf("no link for the provider, or return not kept:\n%s", only)
	}
	if strings.Contains(only, `name="password"`) {
		t.Error("a password form on a site without password users")
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	both := page(mustProvision(t, idpBlock(idpOK, " user alice "+string(hash))))
	if !strings.Contains(both, `name="password"`) || !strings.Contains(both, "Sign in with test") {
		t.Errorf("password form and provider link expected:\n%s", both)
	}
}

// TestIdentityProviderUnreachable: a provider that cannot be reached
// makes its sign-in answer the login page with 400, setting no cookie.
func TestIdentityProviderUnreachable(t *testing.T) {
	h := mustProvision(t, idpBlock(idpOK))
	for _, target := range []string{"/auth/login/test", "/auth/login/test/callback?state=x&code=y"} {
		w := httptest.NewRecorder()
		serveWith(t, h, w, httptest.NewRequest(http.MethodGet, "http://example.com"+target, nil))
		if w.Code != http.StatusBadRequest || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s: got %d with cookies %v, want 400 and none", target, w.Code, w.Result().Cookies())
		}
		if !strings.Contains(w.Body.String(), "Signing in with test did not work") {
			t.Errorf("%s: no message on the page", target)
		}
	}
}

// TestIdentityProviderRules: allow rules read claims as require does, an
// unverified email never matches and is never copied, amr is the
// provider's or ["fed"].
func TestIdentityProviderRules(t *testing.T) {
	p, err := newProvider(IdentityProvider{Name: "test", Issuer: "https://idp.example", ClientID: "a", ClientSecret: "s",
		Allow: []ClaimRule{{Claim: "email", Values: []string{"a@example.com"}}, {Claim: "org.id", Values: []string{"7"}}}}, "/login", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	claims := func(s string) map[string]any {
		c, err := decodeClaims([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		dropUnverifiedEmail(c)
		return c
	}
	for _, tc := range []struct {
		claims string
		allow  bool
	}{
		{`{"email":"a@example.com","email_verified":true,"org":{"id":7}}`, true},
		{`{"email":"a@example.com","email_verified":"true","org":{"id":7}}`, true},
		{`{"email":"a@example.com","email_verified":false,"org":{"id":7}}`, false},
		{`{"email":"a@example.com","org":{"id":7}}`, false},
		{`{"email":"b@example.com","email_verified":true,"org":{"id":7}}`, false},
		{`{"email":"a@example.com","email_verified":true,"org":{"id":8}}`, false},
	} {
		if got := p.allows(claims(tc.claims)); got != tc.allow {
			t.Errorf("%s: allowed %v, want %v", tc.claims, got, tc.allow)
		}
	}
	c := p.carried(claims(`{"email":"a@example.com","name":"A","amr":["pwd","mfa"]}`))
	if _, ok := c["email"]; ok || c["name"] != "A" || c["idp"] != "test" || len(c["amr"].([]any)) != 2 {
		t.Errorf("carried %v", c)
	}
	if c := p.carried(claims(`{"sub":"x"}`)); c["amr"].([]any)[0] != "fed" {
		t.Errorf("amr without the provider's: %v", c["amr"])
	}
	kept := p.allowClaims(claims(`{"email":"a@example.com","email_verified":true,"org":{"id":7},"other":1}`))
	if !p.allows(kept) || kept["other"] != nil {
		t.Errorf("claims kept for refresh: %v", kept)
	}
}

// TestCappedTransport: a provider's response over the cap fails to read.
func TestCappedTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		_, _ = w.Write(make([]byte, n))
	}))
	defer srv.Close()
	c := &http.Client{Transport: cappedTransport{base: http.DefaultTransport, max: 101}}
	for n, ok := range map[int]bool{0: true, 101: true, 102: false, 5000: false} {
		resp, err := c.Get(srv.URL + "/?n=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if (err == nil) != ok {
			t.Errorf("%d bytes: err %v", n, err)
		}
	}
}

// TestIdentityProviderReservedUserName: a users_file user whose name
// reads as a federated sub ("test:...") cannot sign in with a password
// while provider test is configured, so that no password login ever
// carries a federated login's sub.
func TestIdentityProviderReservedUserName(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	file := t.TempDir() + "/users.json"
	users, _ := json.Marshal(map[string]any{"test:alice": map[string]string{"password": string(hash)}, "bob": map[string]string{"password": string(hash)}})
	if err := os.WriteFile(file, users, 0o600); err != nil {
		t.Fatal(err)
	}
	h := mustProvision(t, idpBlock(idpOK, " users_file "+file))
	for user, want := range map[string]int{"test:alice": http.StatusUnauthorized, "bob": http.StatusOK} {
		r := httptest.NewRequest(http.MethodPost, "http://example.com/auth/login", strings.NewReader(`{"username":"`+user+`","password":"right"}`))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		serveWith(t, h, w, r)
		if w.Code != want {
			t.Errorf("password login as %s: %d, want %d", user, w.Code, want)
		}
	}
}
