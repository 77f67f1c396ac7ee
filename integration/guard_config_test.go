package integration

// The guard configured through JSON, and the configurations refused at
// load.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
)

// TestIntegrationJSONConfig: the handler configured through Caddy's JSON.
func TestIntegrationJSONConfig(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	ecPath := writeFile(t, dir, "e.pem", pkixPEM(t, &k.ec256.PublicKey))

	config := func(handler map[string]any, body string) string {
		cfg := map[string]any{
			"admin": map[string]any{"listen": adminAddr},
			"apps": map[string]any{"http": map[string]any{
				"http_port":    httpPort,
				"https_port":   httpsPort,
				"grace_period": 1,
				"servers": map[string]any{"srv0": map[string]any{
					"listen":          []string{fmt.Sprintf(":%d", httpPort)},
					"automatic_https": map[string]any{"disable": true},
					"routes": []any{map[string]any{"handle": []any{
						handler,
						map[string]any{"handler": "static_response", "status_code": 200, "body": body},
					}}},
					"errors": map[string]any{"routes": []any{map[string]any{"handle": []any{
						map[string]any{"handler": "static_response", "status_code": "{http.error.status_code}", "body": "{http.auth.jwt_auth.error}"},
					}}}},
				}},
			}},
		}
		return string(jsonBytes(t, cfg))
	}

	t.Run("full", func(t *testing.T) {
		startConfig(t, config(map[string]any{
			"handler":       "jwt_auth",
			"secret":        hmac64,
			"keys":          []any{map[string]any{"file": ecPath, "kid": "e1"}},
			"algorithms":    []string{"HS256", "ES256"},
			"issuers":       []string{"https://a.example", "https://b.example"},
			"audiences":     []string{"api"},
			"leeway":        "30s",
			"max_lifetime":  "2h",
			"require":       []any{map[string]any{"claim": "role", "values": []string{"admin", "editor"}}, map[string]any{"claim": "team"}},
			"from":          []any{map[string]any{"source": "header", "name": "Authorization"}, map[string]any{"source": "query", "name": "t"}},
			"except":        []string{"/public/*"},
			"claim_headers": []any{map[string]any{"claim": "sub", "header": "X-User"}},
		}, "ok {http.auth.user.id} [{http.request.header.X-User}]"), "json")

		good := map[string]any{"iss": "https://a.example", "aud": "api", "role": "admin", "team": "blue"}
		with := func(mut map[string]any) jwt.MapClaims {
			c := claims("alice", good)
			for k, v := range mut {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			return c
		}
		wantOK(t, "HS256", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(nil), nil)), rawHeader("X-User", "mallory")), "ok alice [alice]")
		wantOK(t, "ES256 with kid, from the query", get(t, "/?t="+mint(t, jwt.SigningMethodES256, k.ec256, with(map[string]any{"iss": "https://b.example"}), map[string]any{"kid": "e1"})), "ok alice [alice]")
		wantInvalid(t, "HS384 outside algorithms", get(t, "/", bearer(mint(t, jwt.SigningMethodHS384, []byte(hmac64), with(nil), nil))), "bad_signature", "algorithm not accepted")
		wantInvalid(t, "other issuer", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"iss": "https://c.example"}), nil))), "bad_claims", "issuer not accepted")
		wantInvalid(t, "other audience", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"aud": "web"}), nil))), "bad_claims", "audience not accepted")
		wantInvalid(t, "lifetime", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"exp": unixIn(3 * time.Hour)}), nil))), "bad_claims", "lifetime too long")
		wantOK(t, "exp 10s ago within leeway", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"exp": unixIn(-10 * time.Second), "iat": unixIn(-time.Hour)}), nil))), "ok alice [alice]")
		wantForbidden(t, "role user", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"role": "user"}), nil))))
		wantForbidden(t, "team missing", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"team": nil}), nil))))
		wantMissing(t, "no token", get(t, "/"))
		wantMissing(t, "cookie is not a configured source", get(t, "/", cookie("access_token", mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(nil), nil))))
		r := get(t, "/public/x", rawHeader("X-User", "mallory"))
		if r.Status != http.StatusOK || (r.Body != "ok  []" && r.Body != "ok {http.auth.user.id} []") {
			t.Errorf("except path: got %d %q, want 200 with no identity and no X-User", r.Status, r.Body)
		}
	})

	t.Run("redirect, allow_missing_exp, leeway in ns", func(t *testing.T) {
		startConfig(t, config(map[string]any{
			"handler":           "jwt_auth",
			"secret":            hmac64,
			"allow_missing_exp": true,
			"leeway":            int64(time.Second),
			"redirect":          "/login",
		}, "ok {http.auth.user.id}"), "json")
		wantOK(t, "no exp", get(t, "/", bearer(hs(t, "alice", map[string]any{"exp": nil}))), "ok alice")
		wantInvalid(t, "exp 10s ago", get(t, "/", bearer(hs(t, "alice", map[string]any{"exp": unixIn(-10 * time.Second)}))), "expired", "token expired")
		r := get(t, "/x?y=1", header("Accept", "text/html"))
		if r.Status != http.StatusFound || r.Header.Get("Location") != "/login?return="+url.QueryEscape("/x?y=1") {
			t.Errorf("redirect: got %d %q", r.Status, r.Header.Get("Location"))
		}
	})

	t.Run("load errors", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			handler map[string]any
			want    string
		}{
			{"short secret", map[string]any{"handler": "jwt_auth", "secret": hmac64[:20]}, "secret"},
			{"no key", map[string]any{"handler": "jwt_auth"}, "key"},
			{"algorithm no key serves", map[string]any{"handler": "jwt_auth", "secret": hmac64, "algorithms": []string{"ES256"}}, "algorithms"},
			{"relative redirect", map[string]any{"handler": "jwt_auth", "secret": hmac64, "redirect": "login"}, "redirect"},
		} {
			t.Run(c.name, func(t *testing.T) {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("config loaded, want a load error naming %q", c.want)
					}
				}()
				forgetAdminConnections()
				caddytest.AssertLoadError(t, config(c.handler, "ok"), "json", c.want)
			})
		}
	})

	t.Run("optional", func(t *testing.T) {
		startConfig(t, config(map[string]any{"handler": "jwt_auth", "secret": hmac64, "optional": true}, "ok {http.auth.user.id}"), "json")
		wantAnonymous(t, "no token", get(t, "/"))
		wantOK(t, "valid", get(t, "/", bearer(hs(t, "alice", nil))), "ok alice")
		wantInvalid(t, "bad", get(t, "/", bearer("x.y.z")), "malformed", "token malformed")
	})
}

// TestIntegrationConfigErrors: configuration errors are load errors that
// name the subdirective.
func TestIntegrationConfigErrors(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	rsaPath := writeFile(t, dir, "r.pem", pkixPEM(t, &k.rsa.PublicKey))
	small := writeFile(t, dir, "small.pem", pkixPEM(t, &k.rsaSmall.PublicKey))
	smallPriv := writeFile(t, dir, "small-priv.pem", pkcs1PrivatePEM(k.rsaSmall))
	garbage := writeFile(t, dir, "garbage.pem", []byte("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"))
	notPEM := writeFile(t, dir, "text.pem", []byte("hello world\n"))
	badJSON := writeFile(t, dir, "bad.json", []byte(`{"kty":"RSA","n":"!!","e":"AQAB"}`))
	short16 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	smallJWK := writeFile(t, dir, "small.json", jsonBytes(t, jwk(t, &k.rsaSmall.PublicKey, "", "")))
	offCurve := jwk(t, &k.ec256.PublicKey, "", "")
	y, _ := b64u.DecodeString(offCurve["y"].(string))
	y[len(y)-1] ^= 1
	offCurve["y"] = b64u.EncodeToString(y)
	offCurveJWK := writeFile(t, dir, "off.json", jsonBytes(t, offCurve))
	shortEd := jwk(t, k.ed.Public(), "", "")
	shortEd["x"] = b64u.EncodeToString(k.ed.Public().(ed25519.PublicKey)[:31])
	shortEdJWK := writeFile(t, dir, "shorted.json", jsonBytes(t, shortEd))
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224Path := writeFile(t, dir, "p224.pem", pkixPEM(t, &p224.PublicKey))

	cases := []struct {
		name, body, want string
	}{
		{"31-byte secret", "secret abcdefghij0123456789abcdefghijk", "secret"},
		{"short base64 secret", "secret base64:" + short16, "secret"},
		{"invalid base64 secret", "secret base64:%%%notbase64%%%", "secret"},
		{"secret without value", "secret", "secret"},
		{"missing key file", "key " + filepath.Join(dir, "nope.pem"), "key"},
		{"garbage PEM", "key " + garbage, "key"},
		{"not a PEM", "key " + notPEM, "key"},
		{"bad JWK", "key " + badJSON, "key"},
		{"RSA 1024 public", "key " + small, "key"},
		{"RSA 1024 private", "key " + smallPriv, "key"},
		{"RSA 1024 JWK", "key " + smallJWK, "key"},
		{"EC JWK point off the curve", "key " + offCurveJWK, "key"},
		{"Ed25519 JWK of 31 bytes", "key " + shortEdJWK, "key"},
		{"P-224 key", "key " + p224Path, "key"},
		{"key without file", "key", "key"},
		{"no key at all", "issuer https://a.example", "key"},
		{"algorithm no key serves", "key " + rsaPath + "\n\t\talgorithms ES256", "algorithms"},
		{"HS512 with a 32-byte secret", "secret " + hmac64[:32] + "\n\t\talgorithms HS512", "algorithms"},
		{"algorithms none", "secret " + hmac64 + "\n\t\talgorithms none", "algorithms"},
		{"unknown algorithm", "secret " + hmac64 + "\n\t\talgorithms HS257", "algorithms"},
		{"relative redirect", "secret " + hmac64 + "\n\t\tredirect login", "redirect"},
		{"redirect without value", "secret " + hmac64 + "\n\t\tredirect", "redirect"},
		{"unknown subdirective", "secret " + hmac64 + "\n\t\tfrobnicate yes", "frobnicate"},
		{"bad leeway", "secret " + hmac64 + "\n\t\tleeway soon", "leeway"},
		{"bad max_lifetime", "secret " + hmac64 + "\n\t\tmax_lifetime forever", "max_lifetime"},
		{"unknown from source", "secret " + hmac64 + "\n\t\tfrom body token", "from"},
		{"from without name", "secret " + hmac64 + "\n\t\tfrom header", "from"},
		{"claim_header without header", "secret " + hmac64 + "\n\t\tclaim_header sub", "claim_header"},
		{"require without claim", "secret " + hmac64 + "\n\t\trequire", "require"},
		{"except without path", "secret " + hmac64 + "\n\t\texcept", "except"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assertLoadError(t, siteConfig("\tjwt_auth {\n\t\t"+c.body+"\n\t}\n\trespond ok\n"), c.want)
		})
	}

	t.Run("short secret not echoed", func(t *testing.T) {
		const s = "Zq8wPxR2vN5tK7mL1hJ4"
		msg := loadErrorText(t, siteConfig("\tjwt_auth {\n\t\tsecret "+s+"\n\t}\n\trespond ok\n"))
		if msg == "" {
			t.Fatal("a 20-byte secret loaded")
		}
		if strings.Contains(msg, s) {
			t.Errorf("load error echoes the secret: %s", msg)
		}
	})

	t.Run("unset env secret", func(t *testing.T) {
		os.Unsetenv("CADDYJWT_IT_UNSET")
		assertLoadError(t, siteConfig("\tjwt_auth {\n\t\tsecret {env.CADDYJWT_IT_UNSET}\n\t}\n\trespond ok\n"), "secret")
	})

	t.Run("short env secret", func(t *testing.T) {
		t.Setenv("CADDYJWT_IT_SHORT", "tooshort")
		assertLoadError(t, siteConfig("\tjwt_auth {\n\t\tsecret {env.CADDYJWT_IT_SHORT}\n\t}\n\trespond ok\n"), "secret")
	})

	// After the refusals a good config still loads and serves.
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	wantOK(t, "good config after refusals", get(t, "/", bearer(hs(t, "alice", nil))), "ok alice")
}
