package caddyjwt

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
)

// TestConfigMistakes: each mistake is refused the same way whether it is
// written in the Caddyfile or in JSON: the Caddyfile parses (its parser
// checks syntax only), both configs are the same handler, and Validate
// and Provision refuse it with the subdirective's name.
func TestConfigMistakes(t *testing.T) {
	const hash = "$2a$04$abcdefghijklmnopqrstuu" // not parsed: Validate refuses first
	for _, tc := range []struct {
		caddyfile, json, want string
	}{
		{"leeway -1s", `{"leeway":"-1s"}`, `leeway: invalid duration "-1s"`},
		{"leeway 5m1s", `{"leeway":"5m1s"}`, "leeway: 5m1s is more than the 5m0s allowed"},
		{"max_lifetime -1s", `{"max_lifetime":"-1s"}`, `max_lifetime: invalid duration "-1s"`},
		{"access_ttl -1s", `{"access_ttl":"-1s"}`, "access_ttl: must be positive"},
		{"refresh_ttl -1s", `{"refresh_ttl":"-1s"}`, `refresh_ttl: invalid duration "-1s"`},
		{"from body token", `{"from":[{"source":"body","name":"token"}]}`, `from: source must be header, cookie or query, not "body"`},
		{"from header \"\"", `{"from":[{"source":"header"}]}`, "from: header source needs a name"},
		{"require \"\" admin", `{"require":[{"values":["admin"]}]}`, "require: a claim name is needed"},
		{"redirect login", `{"redirect":"login"}`, "redirect: must be an absolute path"},
		{"redirect //evil.example/login", `{"redirect":"//evil.example/login"}`, "redirect: must be an absolute path"},
		{"redirect ftp://x/login", `{"redirect":"ftp://x/login"}`, "redirect: must be an absolute path"},
		{"claim_header sub X:User", `{"claim_headers":[{"claim":"sub","header":"X:User"}]}`, "claim_header: invalid header name"},
		{"jwks http://idp.example/jwks", `{"jwks":["http://idp.example/jwks"]}`, "jwks: http:// is allowed only for loopback hosts"},
		{"oidc idp.example", `{"oidc":["idp.example"]}`, "oidc: not an absolute URL"},
		{"key auto HS256", `{"keys":[{"auto":"HS256"}]}`, "key auto: algorithm must be one of"},
		{"key auto {\n rotate -1h\n }", `{"keys":[{"auto":"ES256","rotate":"-1h"}]}`, "key auto: rotate expects a positive duration"},
		{"login login", `{"login":"login"}`, "login: must be an absolute path"},
		{"login //evil.example/login", `{"login":"//evil.example/login"}`, "login: must be an absolute path"},
		{"refresh auth/refresh", `{"refresh":"auth/refresh"}`, "refresh: must be an absolute path"},
		{"logout auth/logout", `{"logout":"auth/logout"}`, "logout: must be an absolute path"},
		{"jwks_endpoint jwks", `{"jwks_endpoint":"jwks"}`, "jwks_endpoint: must be an absolute path"},
		{"login /login", `{"login":"/login"}`, "login: no users"},
		{"refresh /refresh", `{"refresh":"/refresh"}`, "login: no users"},
		{"user \"\" " + hash, `{"users":[{"password":"` + hash + `"}]}`, "user: a name is needed"},
		{"user alice " + hash + "\n refresh /r\n refresh_ttl 0s", `{"users":[{"name":"alice","password":"` + hash + `"}],"refresh":"/r","refresh_ttl":0}`, "refresh: refresh tokens are off"},
		{"login_limit 0 1m", `{"login_limit":{"window":"1m"}}`, "login_limit: expected a positive count"},
		{"login_limit 5 -1m", `{"login_limit":{"count":5,"window":"-1m"}}`, "login_limit: expected a positive count and window"},
		{"cookie {\n same_site loose\n }", `{"cookie":{"same_site":"loose"}}`, "cookie: same_site must be lax, strict or none"},
		{"login /login\n user alice " + hash, `{"login":"/login","users":[{"name":"alice","password":"` + hash + `"}]}`, "issuer: needed when the site's address names no host"},
		{"jwks_endpoint /jwks", `{"jwks_endpoint":"/jwks"}`, "issuer: needed when the site's address names no host"},
		{"key auto", `{"keys":[{"auto":"ES256"}]}`, "issuer: needed with key auto when this handler serves no login"},
		{"trusted_origins app.example", `{"trusted_origins":["app.example"]}`, "trusted_origins:"},
		{"session_ttl -1h", `{"session_ttl":"-1h"}`, "session_ttl: must be positive"},
		{"refresh_grace 6m", `{"refresh_grace":"6m"}`, "refresh_grace: must be between 0 and 5m0s"},
		{"refresh_grace -1s", `{"refresh_grace":"-1s"}`, "refresh_grace: must be between 0 and 5m0s"},
		{"trusted_return app.example", `{"trusted_return":["app.example"]}`, "trusted_return:"},
		{"trusted_return https://app.example/path", `{"trusted_return":["https://app.example/path"]}`, "trusted_return:"},
		{"trusted_return https://*", `{"trusted_return":["https://*"]}`, "trusted_return:"},
		{"trusted_return https://a.*.example", `{"trusted_return":["https://a.*.example"]}`, "trusted_return:"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			block := "jwt_auth {\n secret " + testSecret + "\n " + tc.caddyfile + "\n}"
			var fromCaddyfile Handler
			if err := fromCaddyfile.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
				t.Fatalf("the Caddyfile parser refused a value (Validate's job): %v", err)
			}
			var fromJSON Handler
			if err := json.Unmarshal([]byte(tc.json), &fromJSON); err != nil {
				t.Fatal(err)
			}
			fromJSON.Secret = testSecret
			a, _ := json.Marshal(fromCaddyfile)
			b, _ := json.Marshal(fromJSON)
			if !bytes.Equal(a, b) {
				t.Fatalf("not the same config:\nCaddyfile %s\nJSON      %s", a, b)
			}
			for name, h := range map[string]*Handler{"Caddyfile": &fromCaddyfile, "JSON": &fromJSON} {
				if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: Validate: got %v, want %q", name, err, tc.want)
				}
				if err := provisionHandler(t, h); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: Provision: got %v, want %q", name, err, tc.want)
				}
			}
		})
	}
}

// TestConfigAccepted: the values next to each mistake are accepted by
// Validate, in both forms.
func TestConfigAccepted(t *testing.T) {
	for _, block := range []string{
		"leeway 0s\n max_lifetime 0s",
		"leeway 5m",
		"refresh_ttl 0s",
		"key auto EdDSA {\n rotate 24h\n }\n issuer https://auth.example",
		"redirect https://login.example/",
		"jwks http://127.0.0.1:9/jwks",
		"login_limit 1 1s",
		"cookie {\n same_site none\n }",
		"trusted_origins https://app.example",
		"session_ttl 1h\n refresh_grace 0s",
		"refresh_grace 5m",
		"trusted_return https://app.example https://*.example.com http://app.localhost:8080",
		"logout /logout\n jwks_endpoint /jwks\n issuer https://auth.example",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("jwt_auth {\n " + block + "\n}")); err != nil {
			t.Fatalf("%q: %v", block, err)
		}
		if err := h.Validate(); err != nil {
			t.Errorf("%q: %v", block, err)
		}
	}
}

// provisionHandler provisions h on a storage folder of its own.
func provisionHandler(t *testing.T, h *Handler) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = h.Cleanup() })
	return h.provision(ctx, &certmagic.FileStorage{Path: t.TempDir()})
}
