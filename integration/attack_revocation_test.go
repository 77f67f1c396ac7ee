package integration

// Regression tests of issue 19, "attacks that still work", through a real
// Caddy: revoked tokens that return within the leeway, keys that speak
// for other issuers, time claims out of order, remote key redirects to
// another origin, and an unbounded leeway. Items 2 (parallel guesses) and
// 4 (an emptied users file on reload) are covered elsewhere. Each test
// names the attack it replays and the product code it holds.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestAttack19RevokedWithinLeeway — attack: a revoked token comes back.
// With access_ttl 3s, refresh_ttl 0 and the default 30 s leeway, a token
// logged out is refused, and still refused (revoked, not accepted) once
// past its exp, while the leeway would otherwise accept it.
// Holds: issuer.go/session.go revokeIdentity and endLogin (a revocation
// lives until exp + leeway).
func TestAttack19RevokedWithinLeeway(t *testing.T) {
	startCaddy(t, guardConfigIn(keyDir(t), []string{"key auto", "login /auth/login", "logout /auth/logout",
		"access_ttl 3s", "refresh_ttl 0", "user alice " + bcryptHash(t, issAlicePW)}))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	if tok.RefreshToken != "" {
		t.Fatalf("refresh_ttl 0 issued a refresh token")
	}
	_, c := issParts(t, tok.AccessToken)
	exp := time.Unix(issInt(t, "access token", c, "exp"), 0)
	// Control: a second login's token lives through the same wait, so the
	// refusal below is the revocation's.
	other := issLogin(t, "/auth/login", "alice", issAlicePW)
	wantOK(t, "before logout", get(t, "/", bearer(tok.AccessToken)), "ok alice")
	wantStatus(t, "logout", doRequest(t, http.MethodPost, "/auth/logout", bearer(tok.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "after logout", get(t, "/", bearer(tok.AccessToken)))

	// Past exp (by 2 s), well inside the 30 s leeway. Bounded: exp is at
	// most 3 s away.
	if wait := time.Until(exp.Add(2 * time.Second)); wait > 0 && wait < 10*time.Second {
		time.Sleep(wait)
	}
	issWantRevoked(t, "past exp, inside the leeway", get(t, "/", bearer(tok.AccessToken)))
	issWantRevoked(t, "past exp, inside the leeway, as a cookie", get(t, "/", cookie("access_token", tok.AccessToken)))
	wantOK(t, "the other login past exp, inside the leeway", get(t, "/", bearer(other.AccessToken)), "ok alice")
}

// TestAttack19KeysSpeakForTheirIssuers — attack: one provider's key
// speaks for another issuer. On a site issuing as https://site.test with
// `oidc <B>`, a token B's key signs claiming iss https://site.test (sub
// alice) is refused; with two oidc providers, each key verifies only its
// own iss; a jwks source's keys speak only for the issuers listed.
// Holds: internal/jws/keys.go speaksFor and verify.go checkSignature (the
// key's Issuers), remote.go newRemoteKeys and keysources.go (the binding).
func TestAttack19KeysSpeakForTheirIssuers(t *testing.T) {
	kA, kB, kC := remoteECKey(t, "a1"), remoteECKey(t, "b1"), remoteRSAKey(t, "c1")
	idpA, idpB, idpC := newRemoteIdP(t, kA), newRemoteIdP(t, kB), newRemoteIdP(t, kC)
	refused := func(label string, r response) {
		t.Helper()
		wantInvalid(t, label, r, "bad_claims", "issuer not accepted")
	}

	// A site that issues as https://site.test, with provider B.
	startCaddy(t, guardConfigIn(keyDir(t), []string{"key auto", "issuer https://site.test", "login /auth/login",
		"user alice " + bcryptHash(t, issAlicePW), "oidc " + idpB.URL()}))
	own := issLogin(t, "/auth/login", "alice", issAlicePW)
	wantOK(t, "the site's own token", get(t, "/", bearer(own.AccessToken)), "ok alice")
	refused("B's key as the site", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", "https://site.test", nil)))))
	// Without a kid the site's own ES256 key is tried too, and its
	// signature does not match: refused either way.
	wantInvalidReason(t, "B's key as the site, no kid", get(t, "/", bearer(kB.signWith(t, kB.method, "", remoteClaims("alice", "https://site.test", nil)))), "bad_claims", "bad_signature")
	wantOK(t, "B's key as B", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", idpB.URL(), nil)))), "ok alice")

	// Two providers: each key for its own issuer only.
	startCaddy(t, guardConfigIn(keyDir(t), []string{"oidc " + idpA.URL(), "oidc " + idpB.URL()}))
	refused("B's key as A", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", idpA.URL(), nil)))))
	refused("A's key as B", get(t, "/", bearer(kA.sign(t, remoteClaims("alice", idpB.URL(), nil)))))
	wantOK(t, "B's key as B", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", idpB.URL(), nil)))), "ok alice")
	wantOK(t, "A's key as A", get(t, "/", bearer(kA.sign(t, remoteClaims("alice", idpA.URL(), nil)))), "ok alice")

	// A jwks source speaks for the listed issuer only; a provider never
	// for it.
	startCaddy(t, guardConfigIn(keyDir(t), []string{"issuer https://x.test", "jwks " + idpC.JWKSURL(), "oidc " + idpB.URL()}))
	wantOK(t, "jwks key as the listed issuer", get(t, "/", bearer(kC.sign(t, remoteClaims("alice", "https://x.test", nil)))), "ok alice")
	refused("jwks key as B", get(t, "/", bearer(kC.sign(t, remoteClaims("alice", idpB.URL(), nil)))))
	refused("B's key as the listed issuer", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", "https://x.test", nil)))))
	wantOK(t, "B's key as B, beside jwks", get(t, "/", bearer(kB.sign(t, remoteClaims("alice", idpB.URL(), nil)))), "ok alice")
}

// TestAttack19TimeOrder — attack: a token issued (iat) or valid (nbf)
// only after it expires, each inside the leeway, is refused bad_claims;
// the same nbf with a later exp passes, so the refusal is the order's.
// Holds: internal/jws/verify.go checkTimes (nbf or iat after exp).
func TestAttack19TimeOrder(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	now := time.Now().Unix()
	for label, extra := range map[string]map[string]any{
		"nbf after exp, both ahead":      {"exp": now + 10, "nbf": now + 20},
		"iat after exp, both ahead":      {"exp": now + 10, "iat": now + 20},
		"iat after a just-past exp":      {"exp": now - 10, "iat": now},
		"nbf after a just-past exp":      {"exp": now - 10, "nbf": now - 5, "iat": now - 20},
		"nbf and iat after exp, in skew": {"exp": now + 5, "nbf": now + 6, "iat": now + 6},
		"nbf one second after exp, past": {"exp": now - 2, "nbf": now - 1, "iat": now - 60},
	} {
		wantInvalidReason(t, label, get(t, "/", bearer(hs(t, "alice", extra))), "bad_claims")
	}
	for label, extra := range map[string]map[string]any{
		"nbf ahead, inside the leeway, before exp": {"exp": now + 60, "nbf": now + 20},
		"iat ahead, inside the leeway, before exp": {"exp": now + 60, "iat": now + 20},
		"nbf equal to exp, inside the leeway":      {"exp": now + 20, "nbf": now + 20, "iat": now},
		"exp just past, inside the leeway":         {"exp": now - 10, "nbf": now - 20, "iat": now - 20},
	} {
		wantOK(t, label, get(t, "/", bearer(hs(t, "alice", extra))), "ok alice")
	}
}

// TestAttack19RedirectOrigin — attack: a key set chosen by whoever can
// make the provider redirect. A jwks URL answering a redirect to another
// loopback origin (another server, or the same port under another host
// name) is not followed: its keys are never fetched nor used. A redirect
// on the same origin is followed.
// Holds: remote.go newRemoteKeys' CheckRedirect (same origin only).
func TestAttack19RedirectOrigin(t *testing.T) {
	kOther, kSame := remoteECKey(t, "other1"), remoteECKey(t, "same1")
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{kOther.publicJWK()}})
	}))
	t.Cleanup(other.Close)
	var front *httptest.Server
	var aliasHits atomic.Int64
	front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-other":
			http.Redirect(w, r, other.URL+"/jwks", http.StatusFound)
		case "/to-alias": // the same server, named localhost: another origin
			http.Redirect(w, r, strings.Replace(front.URL, "127.0.0.1", "localhost", 1)+"/alias-keys", http.StatusFound)
		case "/alias-keys":
			aliasHits.Add(1)
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{kOther.publicJWK()}})
		case "/to-same":
			http.Redirect(w, r, "/keys", http.StatusFound)
		case "/keys":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{kSame.publicJWK()}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(front.Close)

	for _, path := range []string{"/to-other", "/to-alias"} {
		startCaddy(t, guardConfigIn(keyDir(t), []string{"jwks " + front.URL + path, "issuer https://idp.test"}))
		wantInvalidReason(t, "redirected "+path+" to another origin", get(t, "/", bearer(kOther.sign(t, remoteClaims("alice", "https://idp.test", nil)))), "bad_signature")
	}
	if n, m := otherHits.Load(), aliasHits.Load(); n != 0 || m != 0 {
		t.Errorf("the other origins were fetched (%d and %d times): a redirect to another origin was followed", n, m)
	}
	startCaddy(t, guardConfigIn(keyDir(t), []string{"jwks " + front.URL + "/to-same", "issuer https://idp.test"}))
	wantOK(t, "redirected on the same origin", get(t, "/", bearer(kSame.sign(t, remoteClaims("alice", "https://idp.test", nil)))), "ok alice")
}

// TestAttack19LeewayBound — attack: a leeway so wide that expired tokens
// live on. leeway above 5 minutes is refused at load, naming leeway; 5m
// loads.
// Holds: validate.go Validate (maxLeeway).
func TestAttack19LeewayBound(t *testing.T) {
	for _, d := range []string{"6m", "5m1s", "1h"} {
		assertLoadError(t, guardConfig(lines("secret "+hmac64, "leeway "+d)), "leeway")
	}
	startCaddy(t, guardConfig(lines("secret "+hmac64, "leeway 5m")))
	wantOK(t, "leeway 5m, a token expired 4 minutes ago", get(t, "/", bearer(hs(t, "alice", map[string]any{
		"exp": time.Now().Add(-4 * time.Minute).Unix(), "iat": time.Now().Add(-10 * time.Minute).Unix(),
	}))), "ok alice")
}
