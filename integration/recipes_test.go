package integration

// The recipes of docs/recipes/ that put the guard behind a service which
// signs people in and sends a signed identity header: Cloudflare Access
// and Google IAP. Each test reads the recipe's own Caddyfile from its page,
// points its JWK set URL at a fake of the service (the fake IdP of
// idp_helpers_test.go, serving a key of the service's type), its site at
// the test site and its upstream at an echo server, and runs it in the
// in-process Caddy with tokens shaped as the service makes them.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// recipeCaddyfile returns the first fenced caddyfile block of
// docs/recipes/<page>, with each old string replaced by its new one; every
// old string must be in the block, so that a recipe that changes its
// values fails here instead of silently testing something else.
func recipeCaddyfile(t *testing.T, page string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "recipes", page))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```caddyfile\n")
	if !ok {
		t.Fatalf("docs/recipes/%s has no caddyfile block", page)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/recipes/%s: the caddyfile block is not closed", page)
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(block, replace[i]) {
			t.Fatalf("docs/recipes/%s: the Caddyfile no longer holds %q:\n%s", page, replace[i], block)
		}
		block = strings.ReplaceAll(block, replace[i], replace[i+1])
	}
	return block
}

// startRecipe loads the Caddyfile of docs/recipes/<page> into the test
// Caddy, its key-set URL swapped for the fake's, its site for the test
// site and its upstream for an echo upstream.
func startRecipe(t *testing.T, page, keysURL string, idp *remoteIdP) {
	t.Helper()
	up := echoServer(t)
	cfg := recipeCaddyfile(t, page,
		keysURL, idp.JWKSURL(),
		"app.example.com {", baseURL+" {",
		"localhost:9000", up.addr)
	startCaddy(t, globalBlock+"\n"+cfg)
}

// recipeClaims returns claims valid now for 10 minutes: the service's
// base claims, then a test's own over them.
func recipeClaims(base map[string]any) func(extra map[string]any) jwt.MapClaims {
	return func(extra map[string]any) jwt.MapClaims {
		now := time.Now()
		c := jwt.MapClaims{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for _, m := range []map[string]any{base, extra} {
			for k, v := range m {
				c[k] = v
			}
		}
		return c
	}
}

// wantUpstreamIdentity asserts that the request reached the upstream with
// X-User-Email = email and without the assertion header.
func wantUpstreamIdentity(t *testing.T, label string, r response, email, assertionHeader string) {
	t.Helper()
	e := decodeEcho(t, label, r)
	if got := headerValues(e.Headers, "X-User-Email"); len(got) != 1 || got[0] != email {
		t.Errorf("%s: upstream got X-User-Email %q, want [%q]", label, got, email)
	}
	if got := headerValues(e.Headers, assertionHeader); len(got) != 0 {
		t.Errorf("%s: upstream got the assertion header %s: %q, want it removed", label, assertionHeader, got)
	}
}

// TestRecipeCloudflareAccess runs docs/recipes/cloudflare-access.md: a
// fake of Access publishes an RS256 key (with a 64-hex kid, as Access
// does) and signs application tokens with Access's claims, sent in
// Cf-Access-Jwt-Assertion.
func TestRecipeCloudflareAccess(t *testing.T) {
	const (
		team     = "https://myteam.cloudflareaccess.com"
		audTag   = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
		certsURL = team + "/cdn-cgi/access/certs"
		hdr      = "Cf-Access-Jwt-Assertion"
	)
	kid := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	key := remoteRSAKey(t, kid("current"))
	access := newRemoteIdP(t, key)
	startRecipe(t, "cloudflare-access.md", certsURL, access)
	claims := recipeClaims(map[string]any{
		"iss": team, "aud": []string{audTag}, "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
		"email": "alice@example.com", "type": "app", "identity_nonce": "6ei69kawdKzMIAPF", "country": "US",
	})
	good := key.sign(t, claims(nil))

	r := get(t, baseURL+"/orders", header(hdr, good), header("X-User-Email", "mallory@example.com"))
	wantUpstreamIdentity(t, "an Access token in "+hdr, r, "alice@example.com", hdr)

	wantStatus(t, "no header (a request that went around Access)", get(t, baseURL+"/orders"), http.StatusUnauthorized)
	wantStatus(t, "the token in Authorization, not in "+hdr, get(t, baseURL+"/orders", bearer(good)), http.StatusUnauthorized)
	wantStatus(t, "the token in the CF_Authorization cookie only", get(t, baseURL+"/orders", cookie("CF_Authorization", good)), http.StatusUnauthorized)
	wantInvalidDescription(t, "another Access application's audience",
		get(t, baseURL+"/orders", header(hdr, key.sign(t, claims(map[string]any{"aud": []string{kid("other app")}})))), "audience not accepted")
	wantInvalidDescription(t, "another team's issuer",
		get(t, baseURL+"/orders", header(hdr, key.sign(t, claims(map[string]any{"iss": "https://otherteam.cloudflareaccess.com"})))), "")
	wantInvalidDescription(t, "an expired token",
		get(t, baseURL+"/orders", header(hdr, key.sign(t, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})))), "token expired")
	forged := remoteRSAKey(t, key.kid) // same kid, a key Access never published
	wantInvalidDescription(t, "a key Access never published, under Access's kid",
		get(t, baseURL+"/orders", header(hdr, forged.sign(t, claims(nil)))), "signature invalid")
	wantInvalidDescription(t, "an HS256 token", get(t, baseURL+"/orders", header(hdr, remoteHS(t, claims(nil)))), "")

	// Access rotates its key: the new kid is fetched on first use.
	next := remoteRSAKey(t, kid("next"))
	access.behave(func(b *remoteIdPBehaviour) { b.keys = []remoteKey{next, key} })
	r = get(t, baseURL+"/orders", header(hdr, next.sign(t, claims(map[string]any{"email": "bob@example.com"}))))
	wantUpstreamIdentity(t, "a token signed with Access's new key", r, "bob@example.com", hdr)
}

// TestRecipeGoogleIAP runs docs/recipes/google-iap.md: a fake of IAP
// publishes an ES256 key and signs tokens with IAP's issuer, audience and
// claims, sent in x-goog-iap-jwt-assertion.
func TestRecipeGoogleIAP(t *testing.T) {
	const (
		iapKeys  = "https://www.gstatic.com/iap/verify/public_key-jwk"
		issuer   = "https://cloud.google.com/iap"
		audience = "/projects/123456789012/global/backendServices/4567890123456789012"
		hdr      = "x-goog-iap-jwt-assertion"
	)
	key := remoteECKey(t, "f9R3yg")
	iap := newRemoteIdP(t, key)
	startRecipe(t, "google-iap.md", iapKeys, iap)
	claims := recipeClaims(map[string]any{
		"iss": issuer, "aud": audience, "sub": "accounts.google.com:118000000000000000000",
		"email": "alice@example.com", "hd": "example.com",
	})
	good := key.sign(t, claims(nil))

	r := get(t, baseURL+"/reports", header("X-Goog-Iap-Jwt-Assertion", good), header("X-User-Email", "mallory@example.com"))
	wantUpstreamIdentity(t, "an IAP token in "+hdr, r, "alice@example.com", hdr)

	wantStatus(t, "no header (a request that went around IAP)", get(t, baseURL+"/reports"), http.StatusUnauthorized)
	wantStatus(t, "the token in Authorization, not in "+hdr, get(t, baseURL+"/reports", bearer(good)), http.StatusUnauthorized)
	wantInvalidDescription(t, "another backend service's audience",
		get(t, baseURL+"/reports", header(hdr, key.sign(t, claims(map[string]any{"aud": "/projects/123456789012/global/backendServices/1"})))), "audience not accepted")
	wantInvalidDescription(t, "App Engine's audience shape for another project",
		get(t, baseURL+"/reports", header(hdr, key.sign(t, claims(map[string]any{"aud": "/projects/123456789012/apps/other-project"})))), "audience not accepted")
	wantInvalidDescription(t, "another issuer",
		get(t, baseURL+"/reports", header(hdr, key.sign(t, claims(map[string]any{"iss": "https://accounts.google.com"})))), "")
	wantInvalidDescription(t, "an expired token",
		get(t, baseURL+"/reports", header(hdr, key.sign(t, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})))), "token expired")
	forged := remoteECKey(t, key.kid)
	wantInvalidDescription(t, "a key IAP never published, under IAP's kid",
		get(t, baseURL+"/reports", header(hdr, forged.sign(t, claims(nil)))), "signature invalid")
	rsa := remoteRSAKey(t, "rsa-1")
	iap.behave(func(b *remoteIdPBehaviour) { b.keys = []remoteKey{key, rsa} })
	wantInvalidDescription(t, "an RS256 token (algorithms ES256), its key published",
		get(t, baseURL+"/reports", header(hdr, rsa.sign(t, claims(nil)))), "")

	// The load balancer's health check carries no IAP header.
	r = get(t, baseURL+"/healthz")
	if r.Status != http.StatusOK {
		t.Errorf("health check without a token: %s, want 200 from the upstream", r)
	}
}
