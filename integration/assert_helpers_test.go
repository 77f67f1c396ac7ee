package integration

// Waiting, users and the assertions on the spec's response shapes, for
// every suite.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/crypto/bcrypt"
)

// ---------------------------------------------------------------------------
// waiting and users

// eventually polls cond every 100ms until it holds, and stops the test
// when it does not within the given time; it returns how long it took.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bcryptHash is a bcrypt hash of password at the lowest cost, for speed.
func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// ---------------------------------------------------------------------------
// assertions

// wantStatus asserts a status.
func wantStatus(t *testing.T, label string, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %s, want %d", label, r, status)
	}
}

// wantOK asserts a 200 with the given body ("ok <sub>" on a site built
// with guardConfig).
func wantOK(t *testing.T, label string, r response, body string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Errorf("%s: got %d %q (WWW-Authenticate %q), want 200 %q", label, r.Status, r.Body, r.Header.Get("WWW-Authenticate"), body)
	}
}

// wantMissing asserts the "no token" row: 401 with a bare realm challenge.
// The body is the reason when the site renders errors with errorsBlock.
func wantMissing(t *testing.T, label string, r response) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusUnauthorized, realmHeader, "missing")
}

// wantInvalid asserts the "bad token" row with its reason and description.
func wantInvalid(t *testing.T, label string, r response, reason, description string) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusUnauthorized,
		fmt.Sprintf(`Bearer realm="localhost", error="invalid_token", error_description=%q`, description), reason)
}

// invalidTokenPrefix starts the challenge of every "bad token" refusal.
const invalidTokenPrefix = `Bearer realm="localhost", error="invalid_token", error_description="`

// wantInvalidDescription asserts a 401 invalid_token refusal; description,
// when not "", is the error_description wanted. It does not look at the
// body.
func wantInvalidDescription(t *testing.T, label string, r response, description string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: got %s, want 401", label, r)
		return
	}
	c := r.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(c, invalidTokenPrefix) {
		t.Errorf("%s: WWW-Authenticate %q, want %s...", label, c, invalidTokenPrefix)
		return
	}
	if description != "" && c != invalidTokenPrefix+description+`"` {
		t.Errorf("%s: WWW-Authenticate %q, want error_description %q", label, c, description)
	}
}

// wantInvalidReason asserts a 401 invalid_token refusal with one of the
// given reasons, whatever its description (which must still be one of the
// fixed phrases).
func wantInvalidReason(t *testing.T, label string, r response, reasons ...string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: got status %d (body %q), want 401", label, r.Status, r.Body)
		return
	}
	ok := false
	for _, reason := range reasons {
		if r.Body == reason {
			ok = true
		}
	}
	if !ok {
		t.Errorf("%s: reason %q, want one of %q", label, r.Body, reasons)
	}
	wa := r.Header.Values("WWW-Authenticate")
	if len(wa) != 1 {
		t.Errorf("%s: WWW-Authenticate %q, want exactly one", label, wa)
		return
	}
	if !strings.HasPrefix(wa[0], invalidTokenPrefix) || !strings.HasSuffix(wa[0], `"`) {
		t.Errorf("%s: WWW-Authenticate %q, want %s<reason>\"", label, wa[0], invalidTokenPrefix)
		return
	}
	desc := strings.TrimSuffix(strings.TrimPrefix(wa[0], invalidTokenPrefix), `"`)
	if !knownDescriptions[desc] {
		t.Errorf("%s: error_description %q is not one of the fixed phrases", label, desc)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("%s: refused request got Set-Cookie %q", label, sc)
	}
}

var knownDescriptions = map[string]bool{
	"token malformed":         true,
	"header not accepted":     true,
	"token expired":           true,
	"token not yet valid":     true,
	"signature invalid":       true,
	"unknown signing key":     true,
	"algorithm not accepted":  true,
	"issuer not accepted":     true,
	"audience not accepted":   true,
	"expiry missing":          true,
	"lifetime too long":       true,
	"claim has wrong type":    true,
	"token type not accepted": true,
}

// wantForbidden asserts the "require rule fails" row.
func wantForbidden(t *testing.T, label string, r response) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusForbidden, `Bearer realm="localhost", error="insufficient_scope"`, "forbidden")
}

// wantRefusal asserts a refusal with the given status, exactly one
// challenge, the reason as body (unless reason is "") and no Set-Cookie.
func wantRefusal(t *testing.T, label string, r response, status int, challenge, reason string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got status %d (body %q, WWW-Authenticate %q), want %d %s", label, r.Status, r.Body, r.Header.Values("WWW-Authenticate"), status, reason)
		return
	}
	if wa := r.Header.Values("WWW-Authenticate"); len(wa) != 1 || wa[0] != challenge {
		t.Errorf("%s: WWW-Authenticate %q, want [%q]", label, wa, challenge)
	}
	if reason != "" && r.Body != reason {
		t.Errorf("%s: reason placeholder %q, want %q", label, r.Body, reason)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("%s: refused request got Set-Cookie %q", label, sc)
	}
}

// wantNotServed asserts that a response did not hand out the marked content.
func wantNotServed(t *testing.T, label string, r response, marker string) {
	t.Helper()
	if r.Status/100 == 2 || strings.Contains(r.Body, marker) {
		t.Errorf("%s: got %d %q, the guarded file must not be served without a token", label, r.Status, r.Body)
	}
}
