package integration

// Helpers of the regression suites for issues 16 and 19
// (identity_test.go, attack_revocation_test.go): refusals checked on sites
// whose realm is not localhost, tokens written as JSON text (so that
// escapes such as a lone surrogate reach the guard byte for byte), the
// issuer's JWKS read with go-jose, and Caddyfiles of several sites on one
// storage. Helpers start with "regress".

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// regressWant asserts a refusal on any site: the status, the reason
// placeholder as body (sites rendered with errorsBlock) and, when
// description is not "", the challenge's error_description.
func regressWant(t *testing.T, label string, r response, status int, reason, description string) {
	t.Helper()
	if r.Status != status || r.Body != reason {
		t.Errorf("%s: got %s, want %d with reason %q", label, r, status, reason)
		return
	}
	if description != "" {
		c := r.Header.Get("WWW-Authenticate")
		if !strings.Contains(c, `error="invalid_token", error_description="`+description+`"`) {
			t.Errorf("%s: WWW-Authenticate %q, want error_description %q", label, c, description)
		}
	}
}

// regressHS signs a token written as JSON texts (header and payload taken
// byte for byte) with HS256 under hmac64.
func regressHS(hdr, payload string) string {
	return textToken(hdr, payload, hmacSigner([]byte(hmac64)))
}

// regressExp is the text of an exp ten minutes ahead.
func regressExp() string { return fmt.Sprint(time.Now().Add(10 * time.Minute).Unix()) }

// regressJWKS fetches a JWK set with go-jose, and checks the CORS header
// that lets a browser app on another origin read it.
func regressJWKS(t *testing.T, url string, opts ...reqOpt) jose.JSONWebKeySet {
	t.Helper()
	r := get(t, url, opts...)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %s", url, r)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("GET %s: Access-Control-Allow-Origin %q, want *", url, got)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("GET %s: %q is no JWK set with keys (%v)", url, shorten(r.Body, 200), err)
	}
	return set
}

// regressDiscovery fetches /.well-known/openid-configuration from origin
// with the given options, checks its CORS header, and returns its issuer
// and jwks_uri.
func regressDiscovery(t *testing.T, label, origin string, opts ...reqOpt) (issuer, jwksURI string) {
	t.Helper()
	r := get(t, origin+"/.well-known/openid-configuration", opts...)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &doc) != nil {
		t.Fatalf("%s: discovery answered %s", label, r)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("%s: discovery's Access-Control-Allow-Origin %q, want *", label, got)
	}
	return doc.Issuer, doc.JWKSURI
}

// regressSite is one site block: its address, a jwt_auth block of the
// given subdirectives, "ok <sub>" to requests that pass, and errors
// rendered as the reason placeholder.
func regressSite(addr string, jwtLines ...string) string {
	return addr + " {\n\tjwt_auth {\n" + lines(jwtLines...) + "\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n" + errorsBlock + "}\n"
}

// regressOrigin is http://<host>:<the in-process Caddy's HTTP port>.
func regressOrigin(host string) string { return fmt.Sprintf("http://%s:%d", host, httpPort) }

// regressNodeConfig writes a Caddyfile for a Caddy process on storage
// (see nodeConfig) with key auto and one user of nodePassword: a site of
// its own, whose issuer is its address.
func regressNodeConfig(t *testing.T, storage, user, hash string) string {
	t.Helper()
	return nodeConfig(t, storage, "key auto", "user "+user+" "+hash)
}
