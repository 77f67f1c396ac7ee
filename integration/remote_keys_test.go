package integration

// Integration tests of remote keys (`jwks <url>`, `oidc <issuer>`) and of
// the plugin's Prometheus counters, against the in-process Caddy of
// caddytest and a fake identity provider on loopback (idp_helpers_test.go).
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
	"fmt"
	"net/http"
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
			m0 := scrapeMetrics(t, baseURL+"/metrics")

			tc.fail(idp)
			before := idp.jwksHits.Load()
			wantInvalidDescription(t, "kid only the failed answer holds", get(t, "/", bearer(fresh.sign(t, remoteClaims("mallory", "", nil)))), "")
			if tc.count && idp.jwksHits.Load() == before {
				t.Errorf("the unknown kid did not make the handler refetch: the failure was not exercised")
			}
			m1 := scrapeMetrics(t, baseURL+"/metrics")
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
// (the last good keys stay); the request whose unknown kid started the
// refetch waits 3 s at most, and requests with known kids are not held up
// meanwhile. Takes about 11 s.
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
	// A request waits at most 3 s for a refetch; the fetch goes on.
	if o.took < 2500*time.Millisecond || o.took > 4500*time.Millisecond {
		t.Errorf("the request waiting on the slow refetch was answered after %s, want about 3 s (a request never waits longer)", o.took)
	}
	// The fetch itself gives up at 10 s, before the 12 s answer: its keys
	// never come, and the last good ones stay.
	time.Sleep(time.Until(start.Add(11 * time.Second)))
	wantInvalidDescription(t, "kid only the dropped answer held, after the fetch timed out", get(t, "/", bearer(freshTok)), "")
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
	m := scrapeMetrics(t, baseURL+"/metrics")
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
