package caddyjwt_test

// Integration tests of remote keys (`jwks <url>`, `oidc <issuer>`) and of
// the plugin's Prometheus counters, against the in-process Caddy of
// caddytest and a fake identity provider on loopback (remote_helpers_test.go).
//
// Contract (SPEC.md, Verification and Operations): remote keys are fetched
// at provision and refreshed in the background (max-age bounded to
// 1m–24h); a token with an unknown kid triggers at most one refetch per
// minute per source, shared by concurrent requests; on failure the last
// good keys stay; responses over 1 MiB or slower than 10 s are dropped;
// http:// only for loopback hosts; oidc: the discovery issuer must be the
// configured one, and so must every token's iss. Remote keys only verify:
// never published, never signing.
//
// Each config load provisions new handlers, hence new remote sources with
// their own refetch budget and a new metrics registry.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestRemoteJWKSKeyTypes: keys of each type in a remote set verify the
// tokens their private halves sign; a kid with another key's signature
// does not pass; a token without kid is tried against the keys of its
// type. Known kids cause no further fetches.
func TestRemoteJWKSKeyTypes(t *testing.T) {
	rsaKey, ecKey, edKey := remoteRSAKey(t, "r1"), remoteECKey(t, "e1"), remoteEdKey(t, "d1")
	idp := newRemoteIdP(t, rsaKey, ecKey, edKey)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))

	if got := idp.jwksHits.Load(); got != 1 {
		t.Errorf("the JWK set was fetched %d times at provision, want 1", got)
	}
	for _, k := range []remoteKey{rsaKey, ecKey, edKey} {
		wantOK(t, k.alg+" token, kid "+k.kid, get(t, "/", bearer(k.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	}
	wantOK(t, "RS256 token without kid", get(t, "/", bearer(rsaKey.signWith(t, jwt.SigningMethodRS256, "", remoteClaims("bob", "", nil)))), "ok bob")

	stranger := remoteRSAKey(t, "r1")
	wantInvalidDescription(t, "kid r1 with another RSA key's signature",
		get(t, "/", bearer(stranger.sign(t, remoteClaims("mallory", "", nil)))), "signature invalid")
	otherEC := remoteECKey(t, "e1")
	wantInvalidDescription(t, "kid e1 with another EC key's signature",
		get(t, "/", bearer(otherEC.sign(t, remoteClaims("mallory", "", nil)))), "signature invalid")
	wantInvalidDescription(t, "expired token under a remote key",
		get(t, "/", bearer(ecKey.sign(t, remoteClaims("alice", "", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})))), "token expired")
	if r := get(t, "/"); r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Bearer realm="localhost"` {
		t.Errorf("no token: got %s, want 401 with a bare realm challenge", r)
	}

	if got := idp.jwksHits.Load(); got != 1 {
		t.Errorf("the JWK set was fetched %d times in all, want 1 (tokens with known kids never refetch)", got)
	}
}

// TestRemoteJWKAlgAndUse: a JWK with alg verifies only that alg; one
// without alg serves every alg of its type; a JWK with use "enc" is left
// out.
func TestRemoteJWKAlgAndUse(t *testing.T) {
	withAlg := remoteRSAKey(t, "rs256-only")
	noAlg := remoteRSAKey(t, "any-rsa")
	noAlg.alg = ""
	enc := remoteRSAKey(t, "enc-key")
	enc.use, enc.alg = "enc", "" // an alg such as RSA-OAEP would get it left out anyway
	idp := newRemoteIdP(t, withAlg, noAlg, enc)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))

	c := func() jwt.MapClaims { return remoteClaims("alice", "", nil) }
	wantOK(t, "RS256 under the RS256 JWK", get(t, "/", bearer(withAlg.signWith(t, jwt.SigningMethodRS256, withAlg.kid, c()))), "ok alice")
	wantInvalidDescription(t, "PS256 under the RS256 JWK", get(t, "/", bearer(withAlg.signWith(t, jwt.SigningMethodPS256, withAlg.kid, c()))), "algorithm not accepted")
	wantInvalidDescription(t, "RS512 under the RS256 JWK", get(t, "/", bearer(withAlg.signWith(t, jwt.SigningMethodRS512, withAlg.kid, c()))), "algorithm not accepted")
	wantOK(t, "RS256 under the JWK without alg", get(t, "/", bearer(noAlg.signWith(t, jwt.SigningMethodRS256, noAlg.kid, c()))), "ok alice")
	wantOK(t, "PS384 under the JWK without alg", get(t, "/", bearer(noAlg.signWith(t, jwt.SigningMethodPS384, noAlg.kid, c()))), "ok alice")
	wantInvalidDescription(t, "RS256 under the use=enc JWK", get(t, "/", bearer(enc.signWith(t, jwt.SigningMethodRS256, enc.kid, c()))), "")
	wantInvalidDescription(t, "RS256 by the use=enc key without kid", get(t, "/", bearer(enc.signWith(t, jwt.SigningMethodRS256, "", c()))), "")
}

// TestRemoteUnknownKidRefetchOnceAMinute: a burst of concurrent tokens with
// unknown kids makes one refetch in all; a second burst within the minute
// none; the requests of the second burst are answered without waiting.
func TestRemoteUnknownKidRefetchOnceAMinute(t *testing.T) {
	known := remoteRSAKey(t, "known")
	idp := newRemoteIdP(t, known)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	stranger := remoteRSAKey(t, "")
	base := idp.jwksHits.Load()
	if base != 1 {
		t.Errorf("JWK set fetched %d times at provision, want 1", base)
	}

	// Slow answers, so that the burst's requests overlap the refetch.
	idp.behave(func(b *remoteIdPBehaviour) { b.delay = 300 * time.Millisecond })
	burst := func(label string) time.Duration {
		const n = 50
		var wg sync.WaitGroup
		results := make([]response, n)
		errs := make([]error, n)
		start := time.Now()
		for i := range n {
			tok := stranger.signWith(t, jwt.SigningMethodRS256, fmt.Sprintf("%s-unknown-%d", label, i), remoteClaims("mallory", "", nil))
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = try(httpClient, http.MethodGet, "/", bearer(tok))
			}()
		}
		wg.Wait()
		took := time.Since(start)
		for i, r := range results {
			if errs[i] != nil {
				t.Errorf("%s request %d with an unknown kid: %v, want 401", label, i, errs[i])
			} else if r.Status != http.StatusUnauthorized {
				t.Errorf("%s request %d with an unknown kid: got %s, want 401", label, i, r)
			}
		}
		return took
	}

	burst("first")
	if extra := idp.jwksHits.Load() - base; extra != 1 {
		t.Errorf("first burst of 50 unknown kids: the IdP saw %d extra /jwks requests, want exactly 1 (one shared refetch)", extra)
	}
	took := burst("second")
	if extra := idp.jwksHits.Load() - base; extra != 1 {
		t.Errorf("second burst within the minute: the IdP saw %d extra /jwks requests in all, want still 1", extra)
	}
	if took > 3*time.Second {
		t.Errorf("second burst took %s: requests should be refused at once while refetching is rate-limited", took)
	}
	wantOK(t, "known kid after the bursts", get(t, "/", bearer(known.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
}

// TestRemoteTwoSourcesRefetchEach: with two remote sources, an unknown kid
// makes each source look again once, and no more within the minute.
func TestRemoteTwoSourcesRefetchEach(t *testing.T) {
	a, b := remoteRSAKey(t, "a1"), remoteECKey(t, "b1")
	idpA, idpB := newRemoteIdP(t, a), newRemoteIdP(t, b)
	startCaddy(t, remoteGuard(t, "jwks "+idpA.JWKSURL(), "jwks "+idpB.JWKSURL()))
	wantOK(t, "kid a1 from source A", get(t, "/", bearer(a.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	wantOK(t, "kid b1 from source B", get(t, "/", bearer(b.sign(t, remoteClaims("bob", "", nil)))), "ok bob")

	b2 := remoteECKey(t, "b2")
	idpB.behave(func(bh *remoteIdPBehaviour) { bh.keys = append(bh.keys, b2) })
	wantOK(t, "kid b2, new at source B", get(t, "/", bearer(b2.sign(t, remoteClaims("carol", "", nil)))), "ok carol")
	stranger := remoteRSAKey(t, "nobody")
	for range 5 {
		wantInvalidDescription(t, "unknown kid", get(t, "/", bearer(stranger.sign(t, remoteClaims("mallory", "", nil)))), "")
	}
	if got := idpA.jwksHits.Load(); got > 2 {
		t.Errorf("source A fetched %d times, want at most 2 (provision + one refetch)", got)
	}
	if got := idpB.jwksHits.Load(); got != 2 {
		t.Errorf("source B fetched %d times, want 2 (provision + the refetch that found b2)", got)
	}
}

// TestRemoteRotationSameType: a key the IdP adds is accepted on first use
// (the unknown kid refetches), and the old key keeps working.
func TestRemoteRotationSameType(t *testing.T) {
	old := remoteRSAKey(t, "2024-old")
	idp := newRemoteIdP(t, old)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	wantOK(t, "old key", get(t, "/", bearer(old.sign(t, remoteClaims("alice", "", nil)))), "ok alice")

	next := remoteRSAKey(t, "2025-new")
	idp.behave(func(b *remoteIdPBehaviour) { b.keys = []remoteKey{old, next} })
	before := idp.jwksHits.Load()
	wantOK(t, "new key on first use", get(t, "/", bearer(next.sign(t, remoteClaims("bob", "", nil)))), "ok bob")
	if got := idp.jwksHits.Load() - before; got != 1 {
		t.Errorf("new kid: %d refetches, want 1", got)
	}
	wantOK(t, "old key still published", get(t, "/", bearer(old.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	wantOK(t, "new key again", get(t, "/", bearer(next.sign(t, remoteClaims("bob", "", nil)))), "ok bob")
}

// TestRemoteRotationNewKeyType: the IdP moves from an RSA key to EC and
// Ed25519 keys; the first token with the new kid (and a new alg) is
// accepted at once through the kid refetch, like any rotation.
func TestRemoteRotationNewKeyType(t *testing.T) {
	old := remoteRSAKey(t, "rsa-1")
	idp := newRemoteIdP(t, old)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	wantOK(t, "RSA key", get(t, "/", bearer(old.sign(t, remoteClaims("alice", "", nil)))), "ok alice")

	ec, ed := remoteECKey(t, "ec-2"), remoteEdKey(t, "ed-3")
	idp.behave(func(b *remoteIdPBehaviour) { b.keys = []remoteKey{old, ec, ed} })
	before := idp.jwksHits.Load()
	wantOK(t, "ES256 token with the new kid, first use", get(t, "/", bearer(ec.sign(t, remoteClaims("bob", "", nil)))), "ok bob")
	if got := idp.jwksHits.Load() - before; got != 1 {
		t.Errorf("new kid ec-2 with a new alg: the IdP saw %d refetches, want 1", got)
	}
	wantOK(t, "EdDSA token with the other new kid", get(t, "/", bearer(ed.sign(t, remoteClaims("carol", "", nil)))), "ok carol")
}

// TestRemoteFailuresKeepLastGoodKeys: when a refetch fails (status 500,
// garbage, a body over 1 MiB, a dropped connection, the IdP gone), the
// last good keys stay in use and whatever the failed answer held is not.
func TestRemoteFailuresKeepLastGoodKeys(t *testing.T) {
	good := remoteRSAKey(t, "good")
	fresh := remoteRSAKey(t, "fresh") // what the failed answers would bring
	cases := []struct {
		name  string
		fail  func(idp *remoteIdP)
		count bool // the IdP can count the attempt
	}{
		{"status 500", func(idp *remoteIdP) {
			idp.behave(func(b *remoteIdPBehaviour) { b.keys, b.status = []remoteKey{fresh}, http.StatusInternalServerError })
		}, true},
		{"garbage", func(idp *remoteIdP) {
			idp.behave(func(b *remoteIdPBehaviour) { b.body = []byte("<html>maintenance</html>") })
		}, true},
		{"not a key set", func(idp *remoteIdP) {
			idp.behave(func(b *remoteIdPBehaviour) { b.body = []byte(`{"keys":"none"}`) })
		}, true},
		{"body over 1 MiB", func(idp *remoteIdP) {
			idp.behave(func(b *remoteIdPBehaviour) { b.keys, b.padTo = []remoteKey{fresh}, 1<<20+1024 })
		}, true},
		{"connection dropped", func(idp *remoteIdP) {
			idp.behave(func(b *remoteIdPBehaviour) { b.hangup = true })
		}, true},
		{"IdP down", func(idp *remoteIdP) { idp.close() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp := newRemoteIdP(t, good)
			startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
			wantOK(t, "before the failure", get(t, "/", bearer(good.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
			m0 := remoteScrape(t, baseURL+"/metrics")

			tc.fail(idp)
			before := idp.jwksHits.Load()
			wantInvalidDescription(t, "kid only the failed answer holds", get(t, "/", bearer(fresh.sign(t, remoteClaims("mallory", "", nil)))), "")
			if tc.count && idp.jwksHits.Load() == before {
				t.Errorf("the unknown kid did not make the handler refetch: the failure was not exercised")
			}
			m1 := remoteScrape(t, baseURL+"/metrics")
			errs := remoteSeries("jwks_fetches_total", "error")
			if d := m1[errs] - m0[errs]; d != 1 {
				t.Errorf("%s went up by %v, want 1", errs, d)
			}
			for i := range 3 {
				wantOK(t, fmt.Sprintf("last good key after the failure (#%d)", i+1),
					get(t, "/", bearer(good.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
			}
		})
	}
}

// TestRemoteBodyUnderLimit: a key set just under 1 MiB is still read (the
// limit drops only what is over it).
func TestRemoteBodyUnderLimit(t *testing.T) {
	old, next := remoteRSAKey(t, "old"), remoteRSAKey(t, "next")
	idp := newRemoteIdP(t, old)
	idp.behave(func(b *remoteIdPBehaviour) { b.padTo = 1<<20 - 64 })
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	wantOK(t, "key from a set of 1 MiB - 64 bytes", get(t, "/", bearer(old.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	idp.behave(func(b *remoteIdPBehaviour) { b.keys, b.padTo = []remoteKey{old, next}, 1<<20 })
	wantOK(t, "new key from a set of exactly 1 MiB", get(t, "/", bearer(next.sign(t, remoteClaims("bob", "", nil)))), "ok bob")
}

// TestRemoteSlowResponseDropped: an answer slower than 10 s is dropped
// (the last good keys stay), and requests with known kids are not held up
// meanwhile. Takes about 10 s.
func TestRemoteSlowResponseDropped(t *testing.T) {
	good, fresh := remoteRSAKey(t, "good"), remoteRSAKey(t, "fresh")
	idp := newRemoteIdP(t, good)
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	wantOK(t, "before", get(t, "/", bearer(good.sign(t, remoteClaims("alice", "", nil)))), "ok alice")

	idp.behave(func(b *remoteIdPBehaviour) { b.keys, b.delay = []remoteKey{good, fresh}, 12*time.Second })
	freshTok := fresh.sign(t, remoteClaims("mallory", "", nil))
	type outcome struct {
		r    response
		err  error
		took time.Duration
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		r, err := try(httpClient, http.MethodGet, "/", bearer(freshTok))
		done <- outcome{r, err, time.Since(start)}
	}()

	time.Sleep(500 * time.Millisecond)
	if idp.jwksHits.Load() != 2 {
		t.Errorf("the unknown kid did not start a refetch (IdP saw %d /jwks requests, want 2)", idp.jwksHits.Load())
	}
	t0 := time.Now()
	wantOK(t, "known kid during the slow refetch", get(t, "/", bearer(good.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("a known kid waited %s for the slow refetch", d)
	}

	o := <-done
	if o.err != nil {
		t.Errorf("kid only the slow answer holds: %v, want 401", o.err)
	} else {
		wantInvalidDescription(t, "kid only the slow answer holds", o.r, "")
	}
	if o.took < 9*time.Second || o.took > 11500*time.Millisecond {
		t.Errorf("the request waiting on the slow refetch was answered after %s, want about 10 s (the fetch timeout, before the 12 s answer)", o.took)
	}
	wantOK(t, "last good key after the timeout", get(t, "/", bearer(good.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
}

// TestRemoteFirstFetchFails: a remote source that cannot be fetched at
// provision does not fail the config; its tokens are refused until the
// background retry (about 5 s later) brings the keys.
func TestRemoteFirstFetchFails(t *testing.T) {
	k := remoteRSAKey(t, "late")
	idp := newRemoteIdP(t, k)
	idp.behave(func(b *remoteIdPBehaviour) { b.status = http.StatusInternalServerError })
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	loaded := time.Now()
	if idp.jwksHits.Load() == 0 {
		t.Errorf("the JWK set was not fetched at provision")
	}
	tok := k.sign(t, remoteClaims("alice", "", nil))
	wantInvalidDescription(t, "before the keys arrive", get(t, "/", bearer(tok)), "")
	m := remoteScrape(t, baseURL+"/metrics")
	if got := m[remoteSeries("jwks_fetches_total", "error")]; got < 1 {
		t.Errorf("jwks_fetches_total{result=error} is %v after the failed first fetch, want >= 1", got)
	}

	idp.behave(func(b *remoteIdPBehaviour) { b.status = 0 })
	deadline := loaded.Add(15 * time.Second)
	var r response
	for time.Now().Before(deadline) {
		if r = get(t, "/", bearer(tok)); r.Status == http.StatusOK {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("keys never arrived: 15 s after the config loaded the token still gets %s (IdP saw %d /jwks requests)", r, idp.jwksHits.Load())
	}
	t.Logf("keys arrived %s after the config loaded", time.Since(loaded).Round(100*time.Millisecond))
	wantOK(t, "after the retry", r, "ok alice")
}

// TestRemoteFirstFetchFailsKidRefetch: while a source has no keys yet,
// every kid is unknown, so the first token after the IdP recovers makes
// the one refetch of the minute and passes at once, without waiting for
// the background retry.
func TestRemoteFirstFetchFailsKidRefetch(t *testing.T) {
	k := remoteECKey(t, "early")
	idp := newRemoteIdP(t, k)
	idp.behave(func(b *remoteIdPBehaviour) { b.status = http.StatusServiceUnavailable })
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	idp.behave(func(b *remoteIdPBehaviour) { b.status = 0 })
	before := idp.jwksHits.Load()
	wantOK(t, "first token after the IdP recovered", get(t, "/", bearer(k.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
	if got := idp.jwksHits.Load() - before; got != 1 {
		t.Errorf("the first token made %d fetches, want 1", got)
	}
}

// TestRemoteMaxAgeLowerBound: Cache-Control max-age=1 is raised to the
// 1-minute floor: the set is not fetched again within seconds.
func TestRemoteMaxAgeLowerBound(t *testing.T) {
	k := remoteRSAKey(t, "k")
	idp := newRemoteIdP(t, k)
	idp.behave(func(b *remoteIdPBehaviour) { b.cacheControl = "public, max-age=1" })
	startCaddy(t, remoteGuard(t, "jwks "+idp.JWKSURL()))
	time.Sleep(3 * time.Second)
	if got := idp.jwksHits.Load(); got != 1 {
		t.Errorf("with max-age=1 the JWK set was fetched %d times in 3 s, want 1 (max-age is bounded below by 1 minute)", got)
	}
	wantOK(t, "token", get(t, "/", bearer(k.sign(t, remoteClaims("alice", "", nil)))), "ok alice")
}

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
	// The remote keys are in use...
	wantOK(t, "remote key verifies", get(t, "/", bearer(r1.sign(t, remoteClaims("alice", "", nil)))), "ok alice")

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
	wantOK(t, "rotated remote key", get(t, "/", bearer(r2.sign(t, remoteClaims("bob", "", nil)))), "ok bob")
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
	r := doRequest(t, http.MethodPost, "/login", jsonBody(map[string]string{"username": "alice", "password": "wonderland"}))
	if r.Status != http.StatusOK {
		t.Fatalf("login: %s", r)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("login answer %q: %v", r.Body, err)
	}
	hdr := remoteTokenHeader(t, tok.AccessToken)
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
			user alice `+bcryptHash(t, "wonderland")+`
		}
		respond "ok {http.auth.user.id}" 200
	}
`))
	metricsURL := baseURL + "/metrics"
	m0 := remoteScrape(t, metricsURL)
	// A new config has a new registry: the two fetches at provision are
	// all there is.
	if got := m0[remoteSeries("jwks_fetches_total", "ok")]; got != 2 {
		t.Errorf("after load, %s = %v, want 2 (one per remote source at provision)", remoteSeries("jwks_fetches_total", "ok"), got)
	}

	admin := remoteHS(t, remoteClaims("root", "", map[string]any{"role": "admin"}))
	// validations
	wantOK(t, "ok #1", get(t, "/x", bearer(admin)), "ok root")
	wantOK(t, "ok #2", get(t, "/y", bearer(admin)), "ok root")
	if r := get(t, "/x"); r.Status != http.StatusUnauthorized { // missing
		t.Errorf("no token: %s", r)
	}
	wantInvalidDescription(t, "malformed", get(t, "/x", bearer("not.a.token")), "")                              // invalid
	wantInvalidDescription(t, "bad signature", get(t, "/x", bearer(a1.sign(t, remoteClaims("x", "", nil)))), "") // invalid
	wantInvalidDescription(t, "expired", get(t, "/x", bearer(remoteHS(t, remoteClaims("x", "", map[string]any{"role": "admin", "exp": time.Now().Add(-time.Hour).Unix()})))), "token expired")
	if r := get(t, "/x", bearer(remoteHS(t, remoteClaims("guest", "", nil)))); r.Status != http.StatusForbidden { // forbidden
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

	m1 := remoteScrape(t, metricsURL)
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
	ma := remoteScrape(t, "http://"+adminAddr+"/metrics")
	for series := range want {
		if ma[series] != m1[series] {
			t.Errorf("admin /metrics: %s = %v, the site's metrics handler says %v", series, ma[series], m1[series])
		}
	}
}
