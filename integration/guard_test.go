package integration

// Black-box integration tests of the jwt_auth guard: a real in-process
// Caddy (caddytest, admin on localhost:2999, the site on
// http://localhost:9080, both moved by CADDYJWT_TEST_PORT_OFFSET; see
// harness_test.go) is configured through the Caddyfile or JSON and
// spoken to over HTTP only. The contract is /work/shared/SPEC.md; the
// sections covered are the guard's subdirectives, the request flow,
// verification (local keys), claim rules, responses and the identity
// passed on. Issuer endpoints and revocation are not covered here.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// anonymousBodies are what "respond \"ok {http.auth.user.id}\"" answers
// when no identity was published (Caddy's respond leaves an unset
// placeholder as it is).
var anonymousBodies = map[string]bool{"ok ": true, "ok {http.auth.user.id}": true}

func wantAnonymous(t *testing.T, label string, r response) {
	t.Helper()
	if r.Status != http.StatusOK || !anonymousBodies[r.Body] {
		t.Errorf("%s: got %d %q, want 200 passed on without identity", label, r.Status, r.Body)
	}
}

func unixIn(d time.Duration) int64 { return time.Now().Add(d).Unix() }

// TestIntegrationResponses holds the guard to each row of the spec's
// Responses table: status, exact WWW-Authenticate, reason placeholder.
func TestIntegrationResponses(t *testing.T) {
	cfg := globalBlock + `
` + baseURL + `, http://127.0.0.1:` + fmt.Sprint(httpPort) + ` {
	jwt_auth {
		secret ` + hmac64 + `
		require role admin
	}
	respond "ok {http.auth.user.id}" 200
` + errorsBlock + `
}
`
	startCaddy(t, cfg)

	admin := hs(t, "alice", map[string]any{"role": "admin"})
	wantOK(t, "valid token", get(t, "/", bearer(admin)), "ok alice")
	wantMissing(t, "no token", get(t, "/"))
	wantMissing(t, "no token, POST", doRequest(t, http.MethodPost, "/x", body("data")))

	r := doRequest(t, http.MethodHead, "/")
	wantRefusal(t, "no token, HEAD", r, http.StatusUnauthorized, realmHeader, "")

	wantInvalid(t, "expired token",
		get(t, "/", bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))),
		"expired", "token expired")
	other := mint(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 64)), claims("alice", map[string]any{"role": "admin"}), nil)
	wantInvalid(t, "token signed with another secret", get(t, "/", bearer(other)), "bad_signature", "signature invalid")
	wantInvalid(t, "garbage token", get(t, "/", bearer("not-a-token")), "malformed", "token malformed")
	wantForbidden(t, "valid token, require fails", get(t, "/", bearer(hs(t, "bob", map[string]any{"role": "user"}))))
	wantForbidden(t, "valid token, claim absent", get(t, "/", bearer(hs(t, "bob", nil))))

	// The realm is the request's host name without the port.
	r = get(t, "/", host(fmt.Sprintf("127.0.0.1:%d", httpPort)))
	wantRefusal(t, "realm from another host", r, http.StatusUnauthorized, `Bearer realm="127.0.0.1"`, "missing")

	// The description never echoes the request or the token: a kid made to
	// break out of the quoted string still gets a fixed phrase.
	evil := rawToken(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "x\", error=\"pwned"},
		claims("mallory", map[string]any{"role": "admin"}), hmacSigner([]byte("wrong-secret-wrong-secret-wrong!")))
	r = get(t, "/", bearer(evil))
	wantInvalidReason(t, "kid with quotes", r, "bad_signature")
	if strings.Contains(r.Header.Get("WWW-Authenticate"), "pwned") {
		t.Errorf("WWW-Authenticate echoes the token: %q", r.Header.Get("WWW-Authenticate"))
	}

	// Without handle_errors the status and challenge are the same (Caddy's
	// bare error response).
	startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64)+"\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n"))
	wantRefusal(t, "no token, no handle_errors", get(t, "/"), http.StatusUnauthorized, realmHeader, "")
	wantRefusal(t, "expired, no handle_errors", get(t, "/", bearer(hs(t, "a", map[string]any{"exp": unixIn(-time.Hour)}))),
		http.StatusUnauthorized, `Bearer realm="localhost", error="invalid_token", error_description="token expired"`, "")
	wantOK(t, "valid, no handle_errors", get(t, "/", bearer(hs(t, "alice", nil))), "ok alice")

	// A refused request gets no Set-Cookie, even one set before the guard.
	startCaddy(t, siteConfig("\theader Set-Cookie \"probe=1\"\n\tjwt_auth {\n"+lines("secret "+hmac64)+"\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n"+errorsBlock))
	r = get(t, "/", bearer(hs(t, "alice", nil)))
	wantOK(t, "valid, cookie probe", r, "ok alice")
	if r.Header.Get("Set-Cookie") != "probe=1" {
		t.Errorf("probe cookie not set on a passing request: %q", r.Header.Values("Set-Cookie"))
	}
	wantMissing(t, "no token, cookie probe", get(t, "/"))
	wantInvalid(t, "expired, cookie probe", get(t, "/", bearer(hs(t, "a", map[string]any{"exp": unixIn(-time.Hour)}))), "expired", "token expired")
}
