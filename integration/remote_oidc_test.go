package integration

// Remote keys found through OpenID discovery, URLs refused, remote keys
// never published or used to sign, and the remote keys' metrics.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRemoteOIDC: the jwks_uri comes from the issuer's discovery document,
// and a token's iss must be the configured issuer.
func TestRemoteOIDC(t *testing.T) {
	k := remoteECKey(t, "oidc-1")
	idp := newRemoteIdP(t, k)
	startCaddy(t, remoteGuard(t, "oidc "+idp.URL()))
	if idp.discHits.Load() < 1 || idp.jwksHits.Load() < 1 {
		t.Errorf("at provision: %d discovery and %d JWKS requests, want at least 1 each", idp.discHits.Load(), idp.jwksHits.Load())
	}

	wantOK(t, "iss = issuer", get(t, "/", bearer(k.sign(t, remoteClaims("alice", idp.URL(), nil)))), "ok alice")
	wantInvalidDescription(t, "iss of another issuer", get(t, "/", bearer(k.sign(t, remoteClaims("alice", "https://evil.example", nil)))), "issuer not accepted")
	// The issuer with or without a final slash is the same issuer (IdPs
	// differ in how they spell it); a longer path is not.
	wantOK(t, "iss with a trailing slash", get(t, "/", bearer(k.sign(t, remoteClaims("alice", idp.URL()+"/", nil)))), "ok alice")
	wantInvalidDescription(t, "iss with a longer path", get(t, "/", bearer(k.sign(t, remoteClaims("alice", idp.URL()+"/x", nil)))), "issuer not accepted")
	wantInvalidDescription(t, "no iss", get(t, "/", bearer(k.sign(t, remoteClaims("alice", "", nil)))), "issuer not accepted")
	if r := get(t, "/", bearer(k.sign(t, remoteClaims("alice", "https://evil.example", nil)))); r.Body != "bad_claims" {
		t.Errorf("iss of another issuer: reason placeholder %q, want bad_claims", r.Body)
	}

	// Rotation through discovery (same key type: a new type is
	// TestRemoteRotationNewKeyType's case).
	k2 := remoteECKey(t, "oidc-2")
	idp.behave(func(b *remoteIdPBehaviour) { b.keys = []remoteKey{k, k2} })
	wantOK(t, "rotated key via discovery", get(t, "/", bearer(k2.sign(t, remoteClaims("bob", idp.URL(), nil)))), "ok bob")
}

// TestRemoteOIDCIssuerMismatch: a discovery document naming another issuer
// is not trusted: no keys are loaded from it.
func TestRemoteOIDCIssuerMismatch(t *testing.T) {
	k := remoteRSAKey(t, "k")
	idp := newRemoteIdP(t, k)
	idp.behave(func(b *remoteIdPBehaviour) { b.issuer = "https://someone-else.example" })
	startCaddy(t, remoteGuard(t, "oidc "+idp.URL()))
	if idp.discHits.Load() < 1 {
		t.Errorf("discovery was not read at provision")
	}
	wantInvalidDescription(t, "token under the mismatching issuer's key", get(t, "/", bearer(k.sign(t, remoteClaims("alice", idp.URL(), nil)))), "")
	wantInvalidDescription(t, "token with the document's issuer", get(t, "/", bearer(k.sign(t, remoteClaims("alice", "https://someone-else.example", nil)))), "")
	if got := idp.jwksHits.Load(); got != 0 {
		t.Errorf("the jwks_uri of a mismatching discovery document was fetched %d times, want 0", got)
	}
}

// TestRemoteInsecureURLsRefused: http:// is refused at load for
// non-loopback hosts, naming the subdirective; https:// is accepted (an
// unreachable host does not fail the load) and http:// to loopback too.
func TestRemoteInsecureURLsRefused(t *testing.T) {
	idp := newRemoteIdP(t, remoteRSAKey(t, "k"))
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL())) // Caddy runs from here

	for _, tc := range []struct{ sub, url string }{
		{"jwks", "http://example.com/keys"},
		{"jwks", "http://10.1.2.3/keys"},
		{"jwks", "http://localhost.example.com/keys"},
		{"oidc", "http://example.com"},
		{"oidc", "http://192.168.1.1"},
	} {
		msg := loadErrorText(t, remoteGuard(t, tc.sub+" "+tc.url))
		if msg == "" {
			t.Errorf("%s %s: config loaded, want a load error", tc.sub, tc.url)
			continue
		}
		if !strings.Contains(msg, tc.sub) {
			t.Errorf("%s %s: load error %q does not name %s", tc.sub, tc.url, msg, tc.sub)
		}
	}

	for _, tc := range []string{
		"jwks https://idp.example.invalid/keys",
		"oidc https://idp.example.invalid",
		"jwks http://[::1]:1/keys",
	} {
		if msg := loadErrorText(t, remoteGuard(t, tc, "secret "+remoteHMAC)); msg != "" {
			t.Errorf("%s: load error %q, want the config accepted", tc, msg)
		}
	}
	// The last config above (local secret, unreachable remote) serves its
	// local key.
	wantOK(t, "local key beside an unreachable remote source", get(t, "/", bearer(remoteHS(t, remoteClaims("alice", "", nil)))), "ok alice")
}

// TestRemoteKeysNotPublished: the handler's own jwks_endpoint (and its
// discovery document) never lists keys fetched from elsewhere.
func TestRemoteKeysNotPublished(t *testing.T) {
	r1, e1 := remoteRSAKey(t, "remote-rsa"), remoteECKey(t, "remote-ec")
	idp := newRemoteIdP(t, r1, e1)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL(), "key auto ES256", "jwks_endpoint /.jwks"))
	// The remote keys are in use (for the issuer the site names: a
	// handler that publishes keys issues as its site's address)...
	wantOK(t, "remote key verifies", get(t, "/", bearer(r1.sign(t, remoteClaims("alice", baseURL, nil)))), "ok alice")

	r := get(t, "/.jwks")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /.jwks: %s", r)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil {
		t.Fatalf("GET /.jwks: %v in %q", err, r.Body)
	}
	if len(set.Keys) != 1 {
		t.Errorf("/.jwks holds %d keys, want 1 (the auto key only): %s", len(set.Keys), r.Body)
	}
	for _, k := range set.Keys {
		if k["kid"] == r1.kid || k["kid"] == e1.kid {
			t.Errorf("/.jwks publishes the remote key %v", k["kid"])
		}
		if k["kty"] == "RSA" {
			t.Errorf("/.jwks publishes an RSA key, but the only local key is EC: %v", k)
		}
	}
	// ...also after a refetch brought another remote key.
	r2 := remoteRSAKey(t, "remote-rsa-2")
	idp.behave(func(b *remoteIdPBehaviour) { b.keys = append(b.keys, r2) })
	wantOK(t, "rotated remote key", get(t, "/", bearer(r2.sign(t, remoteClaims("bob", baseURL, nil)))), "ok bob")
	if r := get(t, "/.jwks"); strings.Contains(r.Body, r2.kid) || strings.Contains(r.Body, r1.kid) {
		t.Errorf("/.jwks after a refetch publishes remote keys: %s", r.Body)
	}
}

// TestRemoteKeysNeverSign: a remote set is verify-only. Even an IdP that
// wrongly publishes private keys does not make this handler sign tokens
// with them: logins are signed with the local key.
func TestRemoteKeysNeverSign(t *testing.T) {
	leaked := remoteRSAKey(t, "leaked")
	idp := newRemoteIdP(t, leaked)
	idp.behave(func(b *remoteIdPBehaviour) { b.private = true })
	startCaddy(t, remoteGuard(t,
		"jwks "+idp.JWKSURL(),
		"secret "+remoteHMAC,
		"login /login",
		"user alice "+bcryptHash(t, "wonderland"),
	))
	tok := issLogin(t, "/login", "alice", "wonderland")
	hdr, _ := issParts(t, tok.AccessToken)
	if hdr["alg"] != "HS256" || hdr["kid"] == leaked.kid {
		t.Errorf("issued token header %v: signed with the remote key, want HS256 with the local secret", hdr)
	}
}

// TestRemoteMetrics: the counters in Caddy's Prometheus registry, read
// through the metrics handler, count validations, logins, refreshes and
// JWKS fetches by result.
func TestRemoteMetrics(t *testing.T) {
	a1 := remoteRSAKey(t, "a1")
	b1 := remoteECKey(t, "b1")
	idpA, idpB := newRemoteIdP(t, a1), newRemoteIdP(t, b1)
	startCaddy(t, remoteSite(t, `
	handle /a/* {
		jwt_auth {
			jwks `+idpA.JWKSURL()+`
		}
		respond "ok {http.auth.user.id}" 200
	}
	handle /b/* {
		jwt_auth {
			jwks `+idpB.JWKSURL()+`
		}
		respond "ok {http.auth.user.id}" 200
	}
	handle {
		jwt_auth {
			secret `+remoteHMAC+`
			require role admin
			login /login
			refresh /refresh
			logout /logout
			login_limit 3 1m
			refresh_grace 0s
			user alice `+bcryptHash(t, "wonderland")+`
		}
		respond "ok {http.auth.user.id}" 200
	}
`))
	metricsURL := baseURL + "/metrics"
	m0 := scrapeMetrics(t, metricsURL)
	// A new config has a new registry: the two fetches at provision are
	// all there is.
	if got := m0[remoteSeries("jwks_fetches_total", "ok")]; got != 2 {
		t.Errorf("after load, %s = %v, want 2 (one per remote source at provision)", remoteSeries("jwks_fetches_total", "ok"), got)
	}

	// The site issues tokens (login), so it accepts its own issuer's.
	admin := remoteHS(t, remoteClaims("root", baseURL, map[string]any{"role": "admin"}))
	// validations
	wantOK(t, "ok #1", get(t, "/x", bearer(admin)), "ok root")
	wantOK(t, "ok #2", get(t, "/y", bearer(admin)), "ok root")
	if r := get(t, "/x"); r.Status != http.StatusUnauthorized { // missing
		t.Errorf("no token: %s", r)
	}
	wantInvalidDescription(t, "malformed", get(t, "/x", bearer("not.a.token")), "")                              // invalid
	wantInvalidDescription(t, "bad signature", get(t, "/x", bearer(a1.sign(t, remoteClaims("x", "", nil)))), "") // invalid
	wantInvalidDescription(t, "expired", get(t, "/x", bearer(remoteHS(t, remoteClaims("x", baseURL, map[string]any{"role": "admin", "exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})))), "token expired")
	if r := get(t, "/x", bearer(remoteHS(t, remoteClaims("guest", baseURL, nil)))); r.Status != http.StatusForbidden { // forbidden
		t.Errorf("no role: got %s, want 403", r)
	}

	// logins and refreshes
	login := func(password string) (response, map[string]any) {
		r := doRequest(t, http.MethodPost, "/login", jsonBody(map[string]string{"username": "alice", "password": password}))
		var body map[string]any
		_ = json.Unmarshal([]byte(r.Body), &body)
		return r, body
	}
	r, tok := login("wonderland") // ok
	if r.Status != http.StatusOK {
		t.Fatalf("login: %s", r)
	}
	refresh, _ := tok["refresh_token"].(string)
	if rr := doRequest(t, http.MethodPost, "/refresh", jsonBody(map[string]string{"refresh_token": refresh})); rr.Status != http.StatusOK { // refresh ok
		t.Errorf("refresh: %s", rr)
	}
	if rr := doRequest(t, http.MethodPost, "/refresh", jsonBody(map[string]string{"refresh_token": "garbage"})); rr.Status != http.StatusUnauthorized { // refresh invalid
		t.Errorf("refresh with garbage: %s", rr)
	}
	if rr := doRequest(t, http.MethodPost, "/refresh", jsonBody(map[string]string{"refresh_token": refresh})); rr.Status != http.StatusUnauthorized { // refresh reused
		t.Errorf("refresh token spent twice: %s", rr)
	}
	// revoked: log in again, log out, present the logged-out token.
	r, tok = login("wonderland") // ok
	if r.Status != http.StatusOK {
		t.Fatalf("second login: %s", r)
	}
	access2, _ := tok["access_token"].(string)
	if rr := doRequest(t, http.MethodPost, "/logout", bearer(access2)); rr.Status != http.StatusNoContent {
		t.Errorf("logout: %s", rr)
	}
	wantInvalidDescription(t, "logged-out token", get(t, "/x", bearer(access2)), "token revoked") // revoked
	// invalid_credentials, then rate_limited
	for i := range 3 {
		if r, _ := login("wrong"); r.Status != http.StatusUnauthorized {
			t.Errorf("wrong password #%d: %s", i+1, r)
		}
	}
	if r, _ := login("wrong"); r.Status != http.StatusTooManyRequests { // rate_limited
		t.Errorf("fourth wrong password: got %s, want 429", r)
	}

	// JWKS fetches: source A refetches for a new kid and finds it (ok);
	// source B's IdP fails (error).
	a2 := remoteRSAKey(t, "a2")
	idpA.behave(func(b *remoteIdPBehaviour) { b.keys = append(b.keys, a2) })
	wantOK(t, "new kid at A", get(t, "/a/1", bearer(a2.sign(t, remoteClaims("ann", "", nil)))), "ok ann") // validation ok
	idpB.behave(func(b *remoteIdPBehaviour) { b.status = http.StatusInternalServerError })
	b2 := remoteECKey(t, "b2")
	wantInvalidDescription(t, "unknown kid at B", get(t, "/b/1", bearer(b2.sign(t, remoteClaims("bo", "", nil)))), "") // invalid
	wantOK(t, "old kid at B", get(t, "/b/2", bearer(b1.sign(t, remoteClaims("bo", "", nil)))), "ok bo")                // ok

	m1 := scrapeMetrics(t, metricsURL)
	want := map[string]float64{
		remoteSeries("validations_total", "ok"):             4,
		remoteSeries("validations_total", "missing"):        1,
		remoteSeries("validations_total", "invalid"):        3,
		remoteSeries("validations_total", "expired"):        1,
		remoteSeries("validations_total", "revoked"):        1,
		remoteSeries("validations_total", "forbidden"):      1,
		remoteSeries("logins_total", "ok"):                  2,
		remoteSeries("logins_total", "invalid_credentials"): 3,
		remoteSeries("logins_total", "rate_limited"):        1,
		remoteSeries("refreshes_total", "ok"):               1,
		remoteSeries("refreshes_total", "invalid"):          1,
		remoteSeries("refreshes_total", "reused"):           1,
		remoteSeries("jwks_fetches_total", "ok"):            1,
		remoteSeries("jwks_fetches_total", "error"):         1,
	}
	for series, d := range want {
		if _, ok := m1[series]; !ok {
			t.Errorf("%s is not exported", series)
			continue
		}
		if got := m1[series] - m0[series]; got != d {
			t.Errorf("%s went up by %v, want %v", series, got, d)
		}
	}
	// Nothing else under caddy_jwt_auth_ moved.
	for series, v := range m1 {
		if _, ok := want[series]; !ok && v != m0[series] {
			t.Errorf("unexpected series moved: %s from %v to %v", series, m0[series], v)
		}
	}

	// The admin endpoint's /metrics reads the same registry.
	ma := scrapeMetrics(t, "http://"+adminAddr+"/metrics")
	for series := range want {
		if ma[series] != m1[series] {
			t.Errorf("admin /metrics: %s = %v, the site's metrics handler says %v", series, ma[series], m1[series])
		}
	}
}
