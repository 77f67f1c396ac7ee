package caddyjwt_test

// Black-box integration tests of the jwt_auth guard: a real in-process
// Caddy (caddytest, admin on localhost:2999, the site on
// http://localhost:9080, see ports_test.go) is configured through the Caddyfile or JSON and
// spoken to over HTTP only. The contract is /work/shared/SPEC.md; the
// sections covered are the guard's subdirectives, the request flow,
// verification (local keys), claim rules, responses and the identity
// passed on. Issuer endpoints and revocation are not covered here.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/caddyjwt/caddyjwt"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
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

// TestIntegrationHMACSecrets: HS256/384/512, the secret length rule,
// base64 secrets and {env.*} placeholders.
func TestIntegrationHMACSecrets(t *testing.T) {
	hs256, hs384, hs512 := jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512

	// random secrets whose base64 forms use the characters that differ
	// between the standard and URL alphabets
	var std32, url48 []byte
	for std32 == nil || !strings.ContainsAny(base64.StdEncoding.EncodeToString(std32), "+/") {
		std32 = make([]byte, 32)
		_, _ = rand.Read(std32)
	}
	for url48 == nil || !strings.ContainsAny(base64.URLEncoding.EncodeToString(url48), "-_") {
		url48 = make([]byte, 48)
		_, _ = rand.Read(url48)
	}

	cases := []struct {
		name    string
		arg     string
		key     []byte
		ok      []jwt.SigningMethod
		refused []jwt.SigningMethod
	}{
		{"32 bytes", hmac64[:32], []byte(hmac64[:32]), []jwt.SigningMethod{hs256}, []jwt.SigningMethod{hs384, hs512}},
		{"48 bytes", hmac64[:48], []byte(hmac64[:48]), []jwt.SigningMethod{hs256, hs384}, []jwt.SigningMethod{hs512}},
		{"64 bytes", hmac64, []byte(hmac64), []jwt.SigningMethod{hs256, hs384, hs512}, nil},
		{"base64 standard", "base64:" + base64.StdEncoding.EncodeToString(std32), std32, []jwt.SigningMethod{hs256}, []jwt.SigningMethod{hs384}},
		{"base64 url", "base64:" + base64.URLEncoding.EncodeToString(url48), url48, []jwt.SigningMethod{hs256, hs384}, []jwt.SigningMethod{hs512}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			startCaddy(t, guardConfig(lines("secret "+c.arg)))
			for _, m := range c.ok {
				wantOK(t, m.Alg(), get(t, "/", bearer(mint(t, m, c.key, claims("alice", nil), nil))), "ok alice")
			}
			for _, m := range c.refused {
				wantInvalid(t, m.Alg()+" beyond the secret's length", get(t, "/", bearer(mint(t, m, c.key, claims("alice", nil), nil))),
					"bad_signature", "algorithm not accepted")
			}
			wrong := append([]byte("Z"), c.key[1:]...)
			wantInvalid(t, "other secret", get(t, "/", bearer(mint(t, hs256, wrong, claims("alice", nil), nil))),
				"bad_signature", "signature invalid")
		})
	}

	t.Run("env placeholder", func(t *testing.T) {
		t.Setenv("CADDYJWT_IT_SECRET", hmac64[:48])
		startCaddy(t, guardConfig(lines("secret {env.CADDYJWT_IT_SECRET}")))
		wantOK(t, "HS384 under the env secret", get(t, "/", bearer(mint(t, hs384, []byte(hmac64[:48]), claims("alice", nil), nil))), "ok alice")
		wantInvalid(t, "signed with the placeholder text",
			get(t, "/", bearer(mint(t, hs256, []byte("{env.CADDYJWT_IT_SECRET}"), claims("alice", nil), nil))),
			"bad_signature", "signature invalid")
	})
}

type signer struct {
	m   jwt.SigningMethod
	key any
}

// TestIntegrationKeyFormats: every asymmetric algorithm from every key file
// format the directive reads.
func TestIntegrationKeyFormats(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)

	rsaGood := []signer{
		{jwt.SigningMethodRS256, k.rsa}, {jwt.SigningMethodRS384, k.rsa}, {jwt.SigningMethodRS512, k.rsa},
		{jwt.SigningMethodPS256, k.rsa}, {jwt.SigningMethodPS384, k.rsa}, {jwt.SigningMethodPS512, k.rsa},
	}
	type fmtCase struct {
		name     string
		file     []byte
		good     []signer
		wrongKey signer // same algorithm, another key: signature invalid
		wrongAlg signer // an algorithm the key cannot serve
	}
	var cases []fmtCase
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"pkcs1 private", pkcs1PrivatePEM(k.rsa)},
		{"pkcs1 public", pkcs1PublicPEM(&k.rsa.PublicKey)},
		{"pkcs8 private", pkcs8PEM(t, k.rsa)},
		{"pkix public", pkixPEM(t, &k.rsa.PublicKey)},
		{"certificate", certPEM(t, k.rsa)},
		{"jwk", jsonBytes(t, jwk(t, &k.rsa.PublicKey, "", ""))},
		{"jwks", jwks(t, jwk(t, &k.rsa.PublicKey, "", ""))},
	} {
		cases = append(cases, fmtCase{"rsa " + f.name, f.data, rsaGood,
			signer{jwt.SigningMethodRS256, k.rsaOther}, signer{jwt.SigningMethodES256, k.ec256}})
	}
	for _, c := range []struct {
		curve    string
		m        jwt.SigningMethod
		key      any
		files    map[string][]byte
		other    any
		wrongAlg signer
	}{
		{"P-256", jwt.SigningMethodES256, k.ec256, map[string][]byte{
			"sec1": sec1PEM(t, k.ec256), "pkcs8": pkcs8PEM(t, k.ec256), "pkix": pkixPEM(t, &k.ec256.PublicKey),
			"certificate": certPEM(t, k.ec256), "jwk": jsonBytes(t, jwk(t, &k.ec256.PublicKey, "", "")),
		}, k.ec256b, signer{jwt.SigningMethodES384, k.ec384}},
		{"P-384", jwt.SigningMethodES384, k.ec384, map[string][]byte{
			"sec1": sec1PEM(t, k.ec384), "pkcs8": pkcs8PEM(t, k.ec384), "pkix": pkixPEM(t, &k.ec384.PublicKey),
			"certificate": certPEM(t, k.ec384), "jwk": jsonBytes(t, jwk(t, &k.ec384.PublicKey, "", "")),
		}, k.ec384b, signer{jwt.SigningMethodES512, k.ec521}},
		{"P-521", jwt.SigningMethodES512, k.ec521, map[string][]byte{
			"sec1": sec1PEM(t, k.ec521), "pkcs8": pkcs8PEM(t, k.ec521), "pkix": pkixPEM(t, &k.ec521.PublicKey),
			"certificate": certPEM(t, k.ec521), "jwk": jsonBytes(t, jwk(t, &k.ec521.PublicKey, "", "")),
		}, k.ec521b, signer{jwt.SigningMethodES256, k.ec256}},
	} {
		for _, name := range []string{"sec1", "pkcs8", "pkix", "certificate", "jwk"} {
			cases = append(cases, fmtCase{"ecdsa " + c.curve + " " + name, c.files[name],
				[]signer{{c.m, c.key}}, signer{c.m, c.other}, c.wrongAlg})
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"pkcs8", pkcs8PEM(t, k.ed)},
		{"pkix", pkixPEM(t, k.ed.Public())},
		{"certificate", certPEM(t, k.ed)},
		{"jwk", jsonBytes(t, jwk(t, k.ed.Public(), "", ""))},
	} {
		cases = append(cases, fmtCase{"ed25519 " + f.name, f.data, []signer{{jwt.SigningMethodEdDSA, k.ed}},
			signer{jwt.SigningMethodEdDSA, k.edOther}, signer{jwt.SigningMethodRS256, k.rsa}})
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ext := ".pem"
			if strings.HasPrefix(string(c.file), "{") {
				ext = ".json"
			}
			path := writeFile(t, dir, fmt.Sprintf("f%d%s", i, ext), c.file)
			startCaddy(t, guardConfig(lines("key "+path)))
			for _, s := range c.good {
				wantOK(t, s.m.Alg(), get(t, "/", bearer(mint(t, s.m, s.key, claims("alice", nil), nil))), "ok alice")
			}
			wantInvalid(t, c.wrongKey.m.Alg()+" by another key",
				get(t, "/", bearer(mint(t, c.wrongKey.m, c.wrongKey.key, claims("mallory", nil), nil))),
				"bad_signature", "signature invalid")
			wantInvalid(t, c.wrongAlg.m.Alg()+" the key cannot serve",
				get(t, "/", bearer(mint(t, c.wrongAlg.m, c.wrongAlg.key, claims("mallory", nil), nil))),
				"bad_signature", "algorithm not accepted")
		})
	}

	t.Run("jwks with several keys", func(t *testing.T) {
		path := writeFile(t, dir, "set.json", jwks(t,
			jwk(t, &k.rsa.PublicKey, "r1", "RS256"),
			jwk(t, &k.ec256.PublicKey, "e1", ""),
			jwk(t, &k.ec521.PublicKey, "e5", "ES512"),
			jwk(t, k.ed.Public(), "d1", ""),
		))
		startCaddy(t, guardConfig(lines("key "+path)))
		for _, c := range []struct {
			kid string
			s   signer
		}{
			{"r1", signer{jwt.SigningMethodRS256, k.rsa}},
			{"e1", signer{jwt.SigningMethodES256, k.ec256}},
			{"e5", signer{jwt.SigningMethodES512, k.ec521}},
			{"d1", signer{jwt.SigningMethodEdDSA, k.ed}},
		} {
			tok := mint(t, c.s.m, c.s.key, claims("alice", nil), map[string]any{"kid": c.kid})
			wantOK(t, "kid "+c.kid, get(t, "/", bearer(tok)), "ok alice")
		}
		tok := mint(t, jwt.SigningMethodES256, k.ec256, claims("mallory", nil), map[string]any{"kid": "r1"})
		wantInvalidReason(t, "ES256 token naming the RSA kid", get(t, "/", bearer(tok)), "bad_signature")
		tok = mint(t, jwt.SigningMethodEdDSA, k.ed, claims("alice", nil), nil)
		wantOK(t, "no kid: each key of the right type is tried", get(t, "/", bearer(tok)), "ok alice")
	})
}

// TestIntegrationAlgorithmConfusion: an RSA public key is never an HMAC
// secret, alg none is never accepted, a JWK's alg pins it.
func TestIntegrationAlgorithmConfusion(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	pubPEM := pkixPEM(t, &k.rsa.PublicKey)
	pubPath := writeFile(t, dir, "rsa-pub.pem", pubPEM)

	startCaddy(t, guardConfig(lines("key "+pubPath)))
	wantOK(t, "RS256 sanity", get(t, "/", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, claims("alice", nil), nil))), "ok alice")
	for name, secret := range map[string][]byte{
		"pkix pem":  pubPEM,
		"pkcs1 pem": pkcs1PublicPEM(&k.rsa.PublicKey),
		"pem body":  []byte(strings.TrimSpace(string(pubPEM))),
	} {
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
			tok := mint(t, m, secret, claims("mallory", nil), nil)
			wantInvalid(t, m.Alg()+" signed with the RSA public key as secret ("+name+")", get(t, "/", bearer(tok)),
				"bad_signature", "algorithm not accepted")
		}
	}
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		tok := rawToken(t, map[string]any{"alg": alg, "typ": "JWT"}, claims("mallory", nil), nil)
		wantInvalidReason(t, "alg "+alg+", empty signature", get(t, "/", bearer(tok)), "malformed", "bad_signature")
		tok = rawToken(t, map[string]any{"alg": alg, "typ": "JWT"}, claims("mallory", nil), hmacSigner(pubPEM))
		wantInvalidReason(t, "alg "+alg+", some signature", get(t, "/", bearer(tok)), "malformed", "bad_signature")
		// unsigned form without the trailing dot
		tok = strings.TrimSuffix(rawToken(t, map[string]any{"alg": alg}, claims("mallory", nil), nil), ".")
		wantInvalidReason(t, "alg "+alg+", two parts", get(t, "/", bearer(tok)), "malformed", "bad_signature")
	}
	tok := rawToken(t, map[string]any{"typ": "JWT"}, claims("mallory", nil), hmacSigner(pubPEM))
	wantInvalidReason(t, "no alg", get(t, "/", bearer(tok)), "malformed", "bad_signature")
	tok = rawToken(t, map[string]any{"alg": "", "typ": "JWT"}, claims("mallory", nil), hmacSigner(pubPEM))
	wantInvalidReason(t, "empty alg", get(t, "/", bearer(tok)), "malformed", "bad_signature")

	t.Run("secret and rsa key together", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "key "+pubPath)))
		wantOK(t, "HS256 under the secret", get(t, "/", bearer(hs(t, "alice", nil))), "ok alice")
		wantOK(t, "RS256 under the key", get(t, "/", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, claims("alice", nil), nil))), "ok alice")
		tok := mint(t, jwt.SigningMethodHS256, pubPEM, claims("mallory", nil), nil)
		wantInvalidReason(t, "HS256 signed with the public key PEM", get(t, "/", bearer(tok)), "bad_signature")
	})

	t.Run("ec and ed25519 public keys as secrets", func(t *testing.T) {
		ecPEM := pkixPEM(t, &k.ec256.PublicKey)
		edPEM := pkixPEM(t, k.ed.Public())
		startCaddy(t, guardConfig(lines("key "+writeFile(t, dir, "ec.pem", ecPEM), "key "+writeFile(t, dir, "ed.pem", edPEM))))
		wantOK(t, "ES256 sanity", get(t, "/", bearer(mint(t, jwt.SigningMethodES256, k.ec256, claims("alice", nil), nil))), "ok alice")
		for name, secret := range map[string][]byte{"ec": ecPEM, "ed25519": edPEM} {
			tok := mint(t, jwt.SigningMethodHS256, secret, claims("mallory", nil), nil)
			wantInvalid(t, "HS256 signed with the "+name+" public key PEM", get(t, "/", bearer(tok)), "bad_signature", "algorithm not accepted")
		}
		// An ECDSA signature in ASN.1 DER instead of JWS's fixed-size R||S.
		der := rawToken(t, map[string]any{"alg": "ES256", "typ": "JWT"}, claims("mallory", nil), func(input string) []byte {
			h := sha256.Sum256([]byte(input))
			sig, err := ecdsa.SignASN1(rand.Reader, k.ec256, h[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		})
		wantInvalidReason(t, "ES256 with a DER signature", get(t, "/", bearer(der)), "bad_signature", "malformed")
	})

	t.Run("jwk alg pins the algorithm", func(t *testing.T) {
		rs := writeFile(t, dir, "rs256.json", jsonBytes(t, jwk(t, &k.rsa.PublicKey, "", "RS256")))
		startCaddy(t, guardConfig(lines("key "+rs)))
		wantOK(t, "RS256", get(t, "/", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, claims("alice", nil), nil))), "ok alice")
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS384, jwt.SigningMethodRS512, jwt.SigningMethodPS256} {
			wantInvalid(t, m.Alg()+" with an RS256 JWK", get(t, "/", bearer(mint(t, m, k.rsa, claims("alice", nil), nil))),
				"bad_signature", "algorithm not accepted")
		}
		ps := writeFile(t, dir, "ps256.json", jsonBytes(t, jwk(t, &k.rsa.PublicKey, "", "PS256")))
		startCaddy(t, guardConfig(lines("key "+ps)))
		wantOK(t, "PS256", get(t, "/", bearer(mint(t, jwt.SigningMethodPS256, k.rsa, claims("alice", nil), nil))), "ok alice")
		wantInvalid(t, "RS256 with a PS256 JWK", get(t, "/", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, claims("alice", nil), nil))),
			"bad_signature", "algorithm not accepted")
	})
}

// TestIntegrationKidSelection: a token's kid picks the key; keys without a
// kid serve tokens whose kid matches no configured key.
func TestIntegrationKidSelection(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	a := writeFile(t, dir, "a.pem", pkixPEM(t, &k.rsa.PublicKey))
	b := writeFile(t, dir, "b.pem", pkixPEM(t, &k.ec256.PublicKey))
	c := writeFile(t, dir, "c.pem", pkixPEM(t, &k.rsaOther.PublicKey))
	rs := func(key any, kid string) string {
		var hdr map[string]any
		if kid != "" {
			hdr = map[string]any{"kid": kid}
		}
		return mint(t, jwt.SigningMethodRS256, key, claims("alice", nil), hdr)
	}

	t.Run("keys with and without kid", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+a+" k1", "key "+b+" k2", "key "+c)))
		wantOK(t, "kid k1, key a", get(t, "/", bearer(rs(k.rsa, "k1"))), "ok alice")
		wantOK(t, "kid k2, key b", get(t, "/", bearer(mint(t, jwt.SigningMethodES256, k.ec256, claims("alice", nil), map[string]any{"kid": "k2"}))), "ok alice")
		wantOK(t, "no kid, key a", get(t, "/", bearer(rs(k.rsa, ""))), "ok alice")
		wantOK(t, "no kid, key c", get(t, "/", bearer(rs(k.rsaOther, ""))), "ok alice")
		wantOK(t, "unknown kid, kid-less key c", get(t, "/", bearer(rs(k.rsaOther, "zzz"))), "ok alice")
		wantInvalid(t, "kid k1 but signed by c", get(t, "/", bearer(rs(k.rsaOther, "k1"))), "bad_signature", "signature invalid")
		wantInvalidReason(t, "unknown kid signed by a (k1 only serves kid k1)", get(t, "/", bearer(rs(k.rsa, "zzz"))), "bad_signature")
		wantInvalidReason(t, "ES256 naming the RSA kid", get(t, "/",
			bearer(mint(t, jwt.SigningMethodES256, k.ec256, claims("alice", nil), map[string]any{"kid": "k1"}))), "bad_signature")
		wantInvalidReason(t, "kid k2 (EC) on an RS256 token", get(t, "/", bearer(rs(k.rsa, "k2"))), "bad_signature")
	})

	t.Run("every key has a kid", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+a+" k1", "key "+c+" k3")))
		wantOK(t, "kid k3", get(t, "/", bearer(rs(k.rsaOther, "k3"))), "ok alice")
		wantOK(t, "no kid", get(t, "/", bearer(rs(k.rsaOther, ""))), "ok alice")
		wantInvalid(t, "unknown kid", get(t, "/", bearer(rs(k.rsa, "zzz"))), "bad_signature", "unknown signing key")
		wantInvalid(t, "kid k3 signed by a", get(t, "/", bearer(rs(k.rsa, "k3"))), "bad_signature", "signature invalid")
	})

	t.Run("secret beside a key with a kid", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "key "+a+" k1")))
		hsKid := func(kid string) reqOpt {
			return bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), claims("alice", nil), map[string]any{"kid": kid}))
		}
		wantOK(t, "HS256 with an unknown kid: the secret is tried", get(t, "/", hsKid("zzz")), "ok alice")
		wantOK(t, "RS256 with kid k1", get(t, "/", bearer(rs(k.rsa, "k1"))), "ok alice")
		wantInvalidReason(t, "HS256 naming the RSA key's kid", get(t, "/", hsKid("k1")), "bad_signature")
	})

	t.Run("kid from the jwk", func(t *testing.T) {
		j := writeFile(t, dir, "j.json", jsonBytes(t, jwk(t, &k.rsa.PublicKey, "j1", "")))
		startCaddy(t, guardConfig(lines("key "+j)))
		wantOK(t, "kid j1", get(t, "/", bearer(rs(k.rsa, "j1"))), "ok alice")
		wantOK(t, "no kid", get(t, "/", bearer(rs(k.rsa, ""))), "ok alice")
		wantInvalid(t, "kid j2", get(t, "/", bearer(rs(k.rsa, "j2"))), "bad_signature", "unknown signing key")
	})
}

// TestIntegrationAlgorithmsNarrowing: `algorithms` narrows what the keys serve.
func TestIntegrationAlgorithmsNarrowing(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	r := writeFile(t, dir, "r.pem", pkcs1PrivatePEM(k.rsa))
	e := writeFile(t, dir, "e.pem", sec1PEM(t, k.ec256))

	startCaddy(t, guardConfig(lines("key "+r, "key "+e, "algorithms PS256 ES256")))
	wantOK(t, "PS256", get(t, "/", bearer(mint(t, jwt.SigningMethodPS256, k.rsa, claims("alice", nil), nil))), "ok alice")
	wantOK(t, "ES256", get(t, "/", bearer(mint(t, jwt.SigningMethodES256, k.ec256, claims("alice", nil), nil))), "ok alice")
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS384, jwt.SigningMethodRS512} {
		wantInvalid(t, m.Alg()+" outside algorithms", get(t, "/", bearer(mint(t, m, k.rsa, claims("alice", nil), nil))),
			"bad_signature", "algorithm not accepted")
	}

	startCaddy(t, guardConfig(lines("secret "+hmac64, "algorithms HS512")))
	wantOK(t, "HS512", get(t, "/", bearer(mint(t, jwt.SigningMethodHS512, []byte(hmac64), claims("alice", nil), nil))), "ok alice")
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384} {
		wantInvalid(t, m.Alg()+" outside algorithms", get(t, "/", bearer(mint(t, m, []byte(hmac64), claims("alice", nil), nil))),
			"bad_signature", "algorithm not accepted")
	}
}

// TestIntegrationTimeClaims: exp, nbf, iat, leeway, allow_missing_exp,
// max_lifetime, and numeric-only time claims.
func TestIntegrationTimeClaims(t *testing.T) {
	tok := func(extra map[string]any) reqOpt { return bearer(hs(t, "alice", extra)) }

	t.Run("defaults", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		wantInvalid(t, "no exp", get(t, "/", tok(map[string]any{"exp": nil})), "bad_claims", "expiry missing")
		wantInvalid(t, "exp a minute ago", get(t, "/", tok(map[string]any{"exp": unixIn(-time.Minute)})), "expired", "token expired")
		wantOK(t, "exp 10s ago, within the 30s leeway", get(t, "/", tok(map[string]any{"exp": unixIn(-10 * time.Second)})), "ok alice")
		wantInvalid(t, "nbf in a minute", get(t, "/", tok(map[string]any{"nbf": unixIn(time.Minute)})), "not_yet_valid", "token not yet valid")
		wantOK(t, "nbf in 10s, within leeway", get(t, "/", tok(map[string]any{"nbf": unixIn(10 * time.Second)})), "ok alice")
		wantOK(t, "nbf in the past", get(t, "/", tok(map[string]any{"nbf": unixIn(-time.Hour)})), "ok alice")
		wantInvalid(t, "iat in a minute", get(t, "/", tok(map[string]any{"iat": unixIn(time.Minute)})), "not_yet_valid", "token not yet valid")
		wantOK(t, "iat in 10s, within leeway", get(t, "/", tok(map[string]any{"iat": unixIn(10 * time.Second)})), "ok alice")
		wantOK(t, "fractional exp", get(t, "/", tok(map[string]any{"exp": float64(unixIn(time.Hour)) + 0.5})), "ok alice")
		wantOK(t, "no iat", get(t, "/", tok(map[string]any{"iat": nil})), "ok alice")
		for _, c := range []string{"exp", "nbf", "iat"} {
			v := fmt.Sprint(unixIn(time.Hour))
			if c != "exp" {
				v = fmt.Sprint(unixIn(-time.Hour))
			}
			wantInvalid(t, c+" as a string", get(t, "/", tok(map[string]any{c: v})), "bad_claims", "claim has wrong type")
		}
		wantInvalid(t, "exp as a bool", get(t, "/", tok(map[string]any{"exp": true})), "bad_claims", "claim has wrong type")
	})

	t.Run("allow_missing_exp", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "allow_missing_exp")))
		wantOK(t, "no exp", get(t, "/", tok(map[string]any{"exp": nil})), "ok alice")
		wantInvalid(t, "expired exp still refused", get(t, "/", tok(map[string]any{"exp": unixIn(-time.Hour)})), "expired", "token expired")
		wantInvalid(t, "nbf still honoured", get(t, "/", tok(map[string]any{"exp": nil, "nbf": unixIn(time.Hour)})), "not_yet_valid", "token not yet valid")
	})

	t.Run("leeway 0s", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "leeway 0s")))
		wantInvalid(t, "exp 10s ago", get(t, "/", tok(map[string]any{"exp": unixIn(-10 * time.Second)})), "expired", "token expired")
		wantInvalid(t, "nbf in 10s", get(t, "/", tok(map[string]any{"nbf": unixIn(10 * time.Second)})), "not_yet_valid", "token not yet valid")
		wantInvalid(t, "iat in 10s", get(t, "/", tok(map[string]any{"iat": unixIn(10 * time.Second)})), "not_yet_valid", "token not yet valid")
	})

	t.Run("leeway 2m", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "leeway 2m")))
		wantOK(t, "exp 90s ago", get(t, "/", tok(map[string]any{"exp": unixIn(-90 * time.Second)})), "ok alice")
		wantOK(t, "nbf in 90s", get(t, "/", tok(map[string]any{"nbf": unixIn(90 * time.Second)})), "ok alice")
		wantInvalid(t, "exp 3m ago", get(t, "/", tok(map[string]any{"exp": unixIn(-3 * time.Minute)})), "expired", "token expired")
	})

	t.Run("max_lifetime", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "max_lifetime 1h")))
		wantOK(t, "exp in 50m", get(t, "/", tok(map[string]any{"exp": unixIn(50 * time.Minute)})), "ok alice")
		wantInvalid(t, "exp in 2h", get(t, "/", tok(map[string]any{"exp": unixIn(2 * time.Hour)})), "bad_claims", "lifetime too long")
		wantInvalid(t, "exp in 10 years", get(t, "/", tok(map[string]any{"exp": unixIn(24 * 3650 * time.Hour)})), "bad_claims", "lifetime too long")
	})
}

// TestIntegrationIssuerAudience: several accepted issuers and audiences,
// string and array aud.
func TestIntegrationIssuerAudience(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "issuer https://a.example https://b.example", "audience api1 api2")))
	tok := func(extra map[string]any) reqOpt { return bearer(hs(t, "alice", extra)) }
	good := func(extra map[string]any) map[string]any {
		m := map[string]any{"iss": "https://a.example", "aud": "api1"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	wantOK(t, "first issuer, string aud", get(t, "/", tok(good(nil))), "ok alice")
	wantOK(t, "second issuer", get(t, "/", tok(good(map[string]any{"iss": "https://b.example"}))), "ok alice")
	wantOK(t, "second audience", get(t, "/", tok(good(map[string]any{"aud": "api2"}))), "ok alice")
	wantOK(t, "array aud holding one", get(t, "/", tok(good(map[string]any{"aud": []string{"other", "api2"}}))), "ok alice")

	wantInvalid(t, "other issuer", get(t, "/", tok(good(map[string]any{"iss": "https://c.example"}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "issuer prefix", get(t, "/", tok(good(map[string]any{"iss": "https://a.example.evil"}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "no issuer", get(t, "/", tok(good(map[string]any{"iss": nil}))), "bad_claims", "issuer not accepted")
	wantInvalid(t, "other audience", get(t, "/", tok(good(map[string]any{"aud": "api3"}))), "bad_claims", "audience not accepted")
	wantInvalid(t, "array aud holding none", get(t, "/", tok(good(map[string]any{"aud": []string{"x", "y"}}))), "bad_claims", "audience not accepted")
	wantInvalid(t, "no audience", get(t, "/", tok(good(map[string]any{"aud": nil}))), "bad_claims", "audience not accepted")
	wantInvalidReason(t, "aud a number", get(t, "/", tok(good(map[string]any{"aud": 42}))), "bad_claims")
	wantInvalidReason(t, "aud array of numbers", get(t, "/", tok(good(map[string]any{"aud": []int{1}}))), "bad_claims")
	wantInvalidReason(t, "iss a number", get(t, "/", tok(good(map[string]any{"iss": 42}))), "bad_claims")
}

// TestIntegrationRequire: claim rules — alternatives, dotted paths, arrays,
// scope/scp splitting, numbers and booleans, presence, all rules at once.
func TestIntegrationRequire(t *testing.T) {
	t.Run("all rules must hold", func(t *testing.T) {
		startCaddy(t, guardConfig(lines(
			"secret "+hmac64,
			"require role admin editor",
			"require realm_access.roles ops",
			`require "https://example.com/tenant" acme`,
			"require scope write",
			"require level 3",
			"require email_verified true",
			"require team",
		)))
		base := func(mut map[string]any) reqOpt {
			c := map[string]any{
				"role":                       "editor",
				"realm_access":               map[string]any{"roles": []string{"user", "ops"}},
				"https://example.com/tenant": "acme",
				"scope":                      "read write",
				"level":                      3,
				"email_verified":             true,
				"team":                       "blue",
			}
			for k, v := range mut {
				c[k] = v
			}
			return bearer(hs(t, "alice", c))
		}
		wantOK(t, "every rule holds", get(t, "/", base(nil)), "ok alice")
		wantOK(t, "role, other accepted value", get(t, "/", base(map[string]any{"role": "admin"})), "ok alice")
		wantOK(t, "role as array holding a value", get(t, "/", base(map[string]any{"role": []string{"user", "admin"}})), "ok alice")
		wantOK(t, "scope holding only write", get(t, "/", base(map[string]any{"scope": "write"})), "ok alice")
		wantOK(t, "scope as array", get(t, "/", base(map[string]any{"scope": []string{"read", "write"}})), "ok alice")
		wantOK(t, "presence rule with an empty value", get(t, "/", base(map[string]any{"team": ""})), "ok alice")

		for label, mut := range map[string]map[string]any{
			"role user":                     {"role": "user"},
			"role missing":                  {"role": nil},
			"role string with spaces":       {"role": "admin editor"},
			"role array without a value":    {"role": []string{"user"}},
			"role case differs":             {"role": "Admin"},
			"nested roles without ops":      {"realm_access": map[string]any{"roles": []string{"user"}}},
			"nested object missing":         {"realm_access": nil},
			"nested object not an object":   {"realm_access": "ops"},
			"dotted claim name other value": {"https://example.com/tenant": "evil"},
			"scope without write":           {"scope": "read writer"},
			"scope glued":                   {"scope": "readwrite"},
			"level 4":                       {"level": 4},
			"email_verified false":          {"email_verified": false},
			"team missing":                  {"team": nil},
		} {
			wantForbidden(t, label, get(t, "/", base(mut)))
		}
	})

	t.Run("paths, scp and dotted names", func(t *testing.T) {
		startCaddy(t, guardConfig(lines(
			"secret "+hmac64,
			"require scp write",
			"require https://example.com/roles admin",
			"require org.team.name blue",
		)))
		base := func(mut map[string]any) reqOpt {
			c := map[string]any{
				"scp":                       "read write",
				"https://example.com/roles": []string{"user", "admin"},
				"org":                       map[string]any{"team": map[string]any{"name": "blue"}},
			}
			for k, v := range mut {
				c[k] = v
			}
			return bearer(hs(t, "alice", c))
		}
		wantOK(t, "every rule holds", get(t, "/", base(nil)), "ok alice")
		wantOK(t, "scp as array", get(t, "/", base(map[string]any{"scp": []string{"write"}})), "ok alice")
		wantForbidden(t, "scp without write", get(t, "/", base(map[string]any{"scp": "read"})))
		wantForbidden(t, "dotted claim without admin", get(t, "/", base(map[string]any{"https://example.com/roles": []string{"user"}})))
		wantForbidden(t, "nested other value", get(t, "/", base(map[string]any{"org": map[string]any{"team": map[string]any{"name": "red"}}})))
		wantForbidden(t, "nested path cut short", get(t, "/", base(map[string]any{"org": map[string]any{"team": "blue"}})))
	})

	t.Run("numbers compare by JSON text", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "require level 3 2.5", "require active false")))
		tok := func(level, active any) reqOpt {
			return bearer(hs(t, "alice", map[string]any{"level": level, "active": active}))
		}
		wantOK(t, "level 3, active false", get(t, "/", tok(3, false)), "ok alice")
		wantOK(t, "level 2.5", get(t, "/", tok(2.5, false)), "ok alice")
		wantOK(t, "level as string 3", get(t, "/", tok("3", false)), "ok alice")
		wantForbidden(t, "level 30", get(t, "/", tok(30, false)))
		wantForbidden(t, "active true", get(t, "/", tok(3, true)))
	})
}

// TestIntegrationTokenSources: default sources, from header/cookie/query,
// source order, absent and empty values.
func TestIntegrationTokenSources(t *testing.T) {
	good := hs(t, "alice", nil)
	bad := "garbage"

	t.Run("defaults", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		wantOK(t, "Bearer", get(t, "/", header("Authorization", "Bearer "+good)), "ok alice")
		wantOK(t, "bearer", get(t, "/", header("Authorization", "bearer "+good)), "ok alice")
		wantOK(t, "BEARER", get(t, "/", header("Authorization", "BEARER "+good)), "ok alice")
		wantOK(t, "cookie access_token", get(t, "/", cookie("access_token", good)), "ok alice")
		wantOK(t, "Basic falls through to the cookie", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz"), cookie("access_token", good)), "ok alice")
		wantOK(t, "empty Bearer falls through to the cookie", get(t, "/", header("Authorization", "Bearer "), cookie("access_token", good)), "ok alice")
		wantInvalid(t, "bad header wins over a good cookie", get(t, "/", bearer(bad), cookie("access_token", good)), "malformed", "token malformed")
		wantMissing(t, "Basic only", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz")))
		wantMissing(t, "empty Bearer only", get(t, "/", header("Authorization", "Bearer ")))
		wantMissing(t, "empty cookie", get(t, "/", cookie("access_token", "")))
		wantMissing(t, "other cookie", get(t, "/", cookie("token", good)))
		wantMissing(t, "query is no default source", get(t, "/?access_token="+good))
		wantMissing(t, "X-Token is no default source", get(t, "/", header("X-Token", good)))
		wantInvalid(t, "two different access_token cookies", get(t, "/", header("Cookie", "access_token="+good+"; access_token="+hs(t, "bob", nil))), "malformed", "token malformed")
		wantOK(t, "header before cookie", get(t, "/", bearer(good), cookie("access_token", hs(t, "bob", nil))), "ok alice")
	})

	t.Run("from header X-Token", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from header X-Token")))
		wantOK(t, "bare token", get(t, "/", header("X-Token", good)), "ok alice")
		wantInvalid(t, "Bearer prefix in a bare header", get(t, "/", header("X-Token", "Bearer "+good)), "malformed", "token malformed")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "cookie not read", get(t, "/", cookie("access_token", good)))
	})

	t.Run("from cookie", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from cookie tok")))
		wantOK(t, "cookie tok", get(t, "/", cookie("tok", good)), "ok alice")
		wantOK(t, "among other cookies", get(t, "/", header("Cookie", "a=1; tok="+good+"; b=2")), "ok alice")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "default cookie not read", get(t, "/", cookie("access_token", good)))
		wantMissing(t, "empty cookie", get(t, "/", cookie("tok", "")))
	})

	t.Run("from query", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from query t")))
		wantOK(t, "query t", get(t, "/page?x=1&t="+good), "ok alice")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "empty query value", get(t, "/?t="))
		wantInvalid(t, "bad query value", get(t, "/?t="+bad), "malformed", "token malformed")
	})

	t.Run("order", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from query t", "from header X-Token", "from cookie c")))
		wantInvalid(t, "bad query before a good header", get(t, "/?t="+bad, header("X-Token", good)), "malformed", "token malformed")
		wantOK(t, "no query, good header", get(t, "/", header("X-Token", good), cookie("c", bad)), "ok alice")
		wantInvalid(t, "bad header before a good cookie", get(t, "/", header("X-Token", bad), cookie("c", good)), "malformed", "token malformed")
		wantOK(t, "cookie only", get(t, "/", cookie("c", good)), "ok alice")
		wantOK(t, "good query before a bad header", get(t, "/?t="+good, header("X-Token", bad)), "ok alice")
		wantMissing(t, "none", get(t, "/", bearer(good)))
	})
}

// TestIntegrationDuplicateTokenValues: two different values for one source
// are refused, never picked from.
func TestIntegrationDuplicateTokenValues(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "from header Authorization", "from cookie access_token", "from query t", "from header X-Token")))
	a, b := hs(t, "alice", nil), hs(t, "bob", nil)
	wantInvalid(t, "two cookies", get(t, "/", header("Cookie", "access_token="+a+"; access_token="+b)), "malformed", "token malformed")
	wantInvalid(t, "two Cookie lines", get(t, "/", cookie("access_token", a), cookie("access_token", b)), "malformed", "token malformed")
	wantInvalid(t, "a good and a bad cookie value", get(t, "/", header("Cookie", "access_token="+a+"; access_token=garbage")), "malformed", "token malformed")
	wantInvalid(t, "two Authorization headers", get(t, "/", bearer(a), bearer(b)), "malformed", "token malformed")
	wantInvalid(t, "two query values", get(t, "/?t="+a+"&t="+b), "malformed", "token malformed")
	wantInvalid(t, "two X-Token headers", get(t, "/", header("X-Token", a), header("X-Token", b)), "malformed", "token malformed")
	wantOK(t, "the same cookie twice", get(t, "/", header("Cookie", "access_token="+a+"; access_token="+a)), "ok alice")
	wantOK(t, "one value each", get(t, "/?t="+a, cookie("access_token", a)), "ok alice")
}

// TestIntegrationRefusedHeaders: refresh tokens, crit and b64 headers, and
// JOSE headers that carry or point at keys.
func TestIntegrationRefusedHeaders(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	pub := writeFile(t, dir, "pub.pem", pkixPEM(t, &k.rsa.PublicKey))
	startCaddy(t, guardConfig(lines("key "+pub)))

	rs := func(key any, hdr map[string]any) reqOpt {
		return bearer(mint(t, jwt.SigningMethodRS256, key, claims("alice", nil), hdr))
	}
	wantOK(t, "typ JWT", get(t, "/", rs(k.rsa, map[string]any{"typ": "JWT"})), "ok alice")
	wantOK(t, "typ at+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "at+jwt"})), "ok alice")
	wantInvalid(t, "typ refresh+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "refresh+jwt"})), "bad_claims", "token type not accepted")
	// typ is a media type: compared case-insensitively, "application/" optional (RFC 7515 4.1.9)
	wantInvalid(t, "typ Refresh+JWT", get(t, "/", rs(k.rsa, map[string]any{"typ": "Refresh+JWT"})), "bad_claims", "token type not accepted")
	wantInvalid(t, "typ application/refresh+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "application/refresh+jwt"})), "bad_claims", "token type not accepted")

	wantInvalid(t, "crit exp", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{"exp"}})), "malformed", "header not accepted")
	wantInvalid(t, "crit empty", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{}})), "malformed", "header not accepted")
	wantInvalid(t, "crit unknown", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{"x-custom"}, "x-custom": 1})), "malformed", "header not accepted")
	wantInvalid(t, "b64 false with crit", get(t, "/", rs(k.rsa, map[string]any{"b64": false, "crit": []string{"b64"}})), "malformed", "header not accepted")
	wantInvalid(t, "b64 false", get(t, "/", rs(k.rsa, map[string]any{"b64": false})), "malformed", "header not accepted")

	// The attacker signs with their own key and says where to find it.
	attacker := k.rsaOther
	attackerJWK := jwk(t, &attacker.PublicKey, "evil", "RS256")
	jku := newHitCounter(t, jwks(t, attackerJWK))
	x5u := newHitCounter(t, certPEM(t, attacker))

	wantInvalid(t, "embedded jwk", get(t, "/", rs(attacker, map[string]any{"jwk": jwk(t, &attacker.PublicKey, "", "")})),
		"bad_signature", "signature invalid")
	wantInvalidReason(t, "embedded jwk with kid", get(t, "/", rs(attacker, map[string]any{"jwk": attackerJWK, "kid": "evil"})), "bad_signature", "malformed")
	wantInvalidReason(t, "jku", get(t, "/", rs(attacker, map[string]any{"jku": jku.srv.URL + "/jwks.json", "kid": "evil"})), "bad_signature", "malformed")
	wantInvalidReason(t, "x5u", get(t, "/", rs(attacker, map[string]any{"x5u": x5u.srv.URL + "/cert.pem"})), "bad_signature", "malformed")
	wantInvalidReason(t, "x5c", get(t, "/", rs(attacker, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(certDER(t, attacker))}})), "bad_signature", "malformed")
	if n := jku.count(); n != 0 {
		t.Errorf("jku URL was fetched %d times", n)
	}
	if n := x5u.count(); n != 0 {
		t.Errorf("x5u URL was fetched %d times", n)
	}
}

// TestIntegrationMalformedTokens: strict compact serialization only.
func TestIntegrationMalformedTokens(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "from header Authorization", "from query t")))
	valid := hs(t, "alice", nil)
	wantOK(t, "valid", get(t, "/", bearer(valid)), "ok alice")
	parts := strings.Split(valid, ".")
	mal := func(label string, r response) {
		t.Helper()
		wantInvalid(t, label, r, "malformed", "token malformed")
	}

	mal("one part", get(t, "/", bearer("abc")))
	mal("two parts", get(t, "/", bearer(parts[0]+"."+parts[1])))
	mal("four parts", get(t, "/", bearer(valid+"."+parts[2])))
	mal("empty parts", get(t, "/", bearer("..")))
	mal("empty payload", get(t, "/", bearer(parts[0]+".."+parts[2])))
	mal("header not JSON", get(t, "/", bearer(b64u.EncodeToString([]byte("not json"))+"."+parts[1]+"."+parts[2])))
	mal("payload not JSON", get(t, "/", bearer(parts[0]+"."+b64u.EncodeToString([]byte("[1,2"))+"."+parts[2])))
	notObject := signedText(parts[0], b64u.EncodeToString([]byte(`"alice"`)))
	wantInvalidReason(t, "payload not an object", get(t, "/", bearer(notObject)), "malformed", "bad_claims")
	mal("character outside the alphabet", get(t, "/", bearer(parts[0]+"."+parts[1][:5]+"*"+parts[1][6:]+"."+parts[2])))

	// JWE, compact (5 parts)
	iv, tag, key := make([]byte, 12), make([]byte, 16), make([]byte, 256)
	_, _ = rand.Read(iv)
	_, _ = rand.Read(tag)
	_, _ = rand.Read(key)
	for hdr, encKey := range map[string]string{`{"alg":"dir","enc":"A256GCM"}`: "", `{"alg":"RSA-OAEP","enc":"A256GCM"}`: b64u.EncodeToString(key)} {
		jwe := strings.Join([]string{b64u.EncodeToString([]byte(hdr)), encKey, b64u.EncodeToString(iv),
			b64u.EncodeToString([]byte("ciphertext")), b64u.EncodeToString(tag)}, ".")
		mal("JWE "+hdr, get(t, "/", bearer(jwe)))
	}
	// JWS JSON serialization, flattened and general
	flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, parts[1], parts[0], parts[2])
	mal("JSON serialization, flattened", get(t, "/", bearer(flat)))
	mal("JSON serialization, general", get(t, "/", bearer(general)))
	mal("JSON serialization in the query", get(t, "/?t="+url.QueryEscape(flat)))

	// padding: a 32-byte signature is 43 characters, 44 with its '='
	if len(parts[2]) != 43 {
		t.Fatalf("HS256 signature is %d characters", len(parts[2]))
	}
	mal("padded signature", get(t, "/", bearer(valid+"=")))
	mal("padded signature in the query", get(t, "/?t="+url.QueryEscape(valid+"=")))
	if pad := (4 - len(parts[1])%4) % 4; pad > 0 {
		mal("padded payload", get(t, "/", bearer(parts[0]+"."+parts[1]+strings.Repeat("=", pad)+"."+parts[2])))
	}

	// '+' and '/' instead of '-' and '_'
	var alt string
	for i := 0; i < 500 && alt == ""; i++ {
		tok := hs(t, "alice", map[string]any{"jti": fmt.Sprint(i)})
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.ContainsAny(sig, "-_") {
			wantOK(t, "valid token before the alphabet swap", get(t, "/", bearer(tok)), "ok alice")
			swapped := strings.NewReplacer("-", "+", "_", "/").Replace(sig)
			alt = tok[:len(tok)-len(sig)] + swapped
		}
	}
	if alt == "" {
		t.Fatal("no token with '-' or '_' in its signature")
	}
	mal("standard alphabet", get(t, "/", bearer(alt)))
	mal("standard alphabet in the query", get(t, "/?t="+url.QueryEscape(alt)))

	// non-zero trailing bits: the last character of a 43-character part
	// carries 4 bits of data and 2 bits that must be zero
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, parts[2][42])
	if last&3 != 0 {
		t.Fatalf("strict encoder produced trailing bits: %q", parts[2])
	}
	loose := parts[2][:42] + string(alphabet[last|1])
	if got, err := b64u.DecodeString(loose); err != nil || string(got) != mustDecode(t, parts[2]) {
		t.Fatalf("lenient decoding of %q: %v", loose, err)
	}
	if _, err := b64u.Strict().DecodeString(loose); err == nil {
		t.Fatalf("strict decoding of %q succeeded", loose)
	}
	mal("non-zero trailing bits", get(t, "/", bearer(parts[0]+"."+parts[1]+"."+loose)))

	// CR and LF inside a token (Go's decoder would skip them)
	for name, ins := range map[string]string{"LF": "\n", "CR": "\r", "CRLF": "\r\n"} {
		broken := valid[:10] + ins + valid[10:]
		if _, err := b64u.DecodeString(strings.Split(broken, ".")[0]); err != nil {
			t.Fatalf("Go's decoder refused %s: %v", name, err)
		}
		mal(name+" in the header part", get(t, "/?t="+url.QueryEscape(broken)))
		brokenSig := valid[:len(valid)-5] + ins + valid[len(valid)-5:]
		mal(name+" in the signature", get(t, "/?t="+url.QueryEscape(brokenSig)))
	}
	// The same faults in the header or payload text, signed as they are:
	// a lenient decoder would find a valid signature and good claims.
	hdrText := b64u.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	var payText string
	for i := 0; i < 500; i++ {
		payText = b64u.EncodeToString(jsonBytes(t, claims("alice", map[string]any{"jti": fmt.Sprint(i), "q": "~~~???>>>"})))
		if len(payText)%4 != 0 && strings.ContainsAny(payText, "-_") {
			break
		}
	}
	if len(payText)%4 == 0 || !strings.ContainsAny(payText, "-_") {
		t.Fatal("no payload text with room for padding and '-' or '_'")
	}
	wantOK(t, "re-signed sanity", get(t, "/", bearer(signedText(hdrText, payText))), "ok alice")
	payLast := strings.IndexByte(alphabet, payText[len(payText)-1])
	for label, p := range map[string][2]string{
		"padded payload, re-signed":            {hdrText, payText + strings.Repeat("=", 4-len(payText)%4)},
		"standard alphabet payload, re-signed": {hdrText, strings.NewReplacer("-", "+", "_", "/").Replace(payText)},
		"trailing bits in payload, re-signed":  {hdrText, payText[:len(payText)-1] + string(alphabet[payLast|1])},
		"LF in payload, re-signed":             {hdrText, payText[:8] + "\n" + payText[8:]},
		"CRLF in header, re-signed":            {hdrText[:8] + "\r\n" + hdrText[8:], payText},
		"padded header, re-signed":             {hdrText + strings.Repeat("=", (4-len(hdrText)%4)%4), payText},
	} {
		if p[0] == hdrText && p[1] == payText {
			continue // header needs no padding
		}
		mal(label, get(t, "/?t="+url.QueryEscape(signedText(p[0], p[1]))))
	}

	mal("space inside", get(t, "/?t="+url.QueryEscape(valid[:10]+" "+valid[10:])))
	mal("tab inside", get(t, "/?t="+url.QueryEscape(valid[:10]+"\t"+valid[10:])))

	// size: a validly signed token over 16 KiB is refused, one under is not
	big := hs(t, "alice", map[string]any{"pad": strings.Repeat("a", 13000)})
	if len(big) <= 16384 {
		t.Fatalf("big token is only %d bytes", len(big))
	}
	mal("token over 16 KiB", get(t, "/", bearer(big)))
	fits := hs(t, "alice", map[string]any{"pad": strings.Repeat("a", 11500)})
	if len(fits) > 16384 || len(fits) < 15000 {
		t.Fatalf("token under the limit is %d bytes", len(fits))
	}
	wantOK(t, "token just under 16 KiB", get(t, "/", bearer(fits)), "ok alice")

	// exactly at the limit: 16384 bytes pass, 16385 do not
	at := map[int]string{}
	for extra := 0; extra < 3 && (at[16384] == "" || at[16385] == ""); extra++ {
		for n := 12000; n < 12400; n++ {
			tok := signedText(hdrText, b64u.EncodeToString(jsonBytes(t, claims("alice"+strings.Repeat("x", extra), map[string]any{
				"exp": unixIn(time.Hour), "iat": unixIn(0), "pad": strings.Repeat("a", n)}))))
			if (len(tok) == 16384 || len(tok) == 16385) && at[len(tok)] == "" {
				at[len(tok)] = tok
			}
		}
	}
	if at[16384] == "" || at[16385] == "" {
		t.Fatal("could not build tokens of 16384 and 16385 bytes")
	}
	if r := get(t, "/", bearer(at[16384])); r.Status != http.StatusOK {
		t.Errorf("token of exactly 16384 bytes: got %d %q, want 200", r.Status, r.Body)
	}
	mal("token of 16385 bytes", get(t, "/", bearer(at[16385])))
}

// signedText signs header and payload texts as they are (HS256 under
// hmac64), however they are encoded.
func signedText(hdr, payload string) string {
	input := hdr + "." + payload
	return input + "." + b64u.EncodeToString(hmacSigner([]byte(hmac64))(input))
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := b64u.Strict().DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIntegrationOptional: no token passes anonymously, a bad one is refused.
func TestIntegrationOptional(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "optional", "require role admin")))
	wantAnonymous(t, "no token", get(t, "/"))
	wantAnonymous(t, "empty Bearer", get(t, "/", header("Authorization", "Bearer ")))
	wantAnonymous(t, "Basic", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz")))
	wantOK(t, "valid token", get(t, "/", bearer(hs(t, "alice", map[string]any{"role": "admin"}))), "ok alice")
	wantInvalid(t, "garbage token", get(t, "/", bearer("garbage")), "malformed", "token malformed")
	wantInvalid(t, "expired token", get(t, "/", bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "expired", "token expired")
	wantInvalid(t, "forged token", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims("alice", nil), nil))),
		"bad_signature", "signature invalid")
	wantForbidden(t, "valid token failing require", get(t, "/", bearer(hs(t, "bob", map[string]any{"role": "user"}))))
}

// TestIntegrationRedirect: browsers without a valid token are sent to the
// login page; API clients get the 401.
func TestIntegrationRedirect(t *testing.T) {
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	loc := func(r response) string { return r.Header.Get("Location") }
	want302 := func(label string, r response, location string) {
		t.Helper()
		if r.Status != http.StatusFound || loc(r) != location {
			t.Errorf("%s: got %d Location %q, want 302 %q", label, r.Status, loc(r), location)
		}
		if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
			t.Errorf("%s: redirect set cookies %q", label, sc)
		}
	}
	ret := func(uri string) string { return url.QueryEscape(uri) }

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect /login", "require role admin")))
	admin := hs(t, "alice", map[string]any{"role": "admin"})
	want302("GET, browser", get(t, "/secret?a=1&b=2", header("Accept", html)), "/login?return="+ret("/secret?a=1&b=2"))
	want302("GET, Accept text/html only", get(t, "/docs/page", header("Accept", "text/html")), "/login?return="+ret("/docs/page"))
	want302("escaped request URI", get(t, "/a%20b/c?q=x%26y", header("Accept", html)), "/login?return="+ret("/a%20b/c?q=x%26y"))
	want302("HEAD, browser", doRequest(t, http.MethodHead, "/x", header("Accept", html)), "/login?return="+ret("/x"))
	want302("expired token", get(t, "/x", header("Accept", html), bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "/login?return="+ret("/x"))
	want302("garbage token", get(t, "/x", header("Accept", html), cookie("access_token", "garbage")), "/login?return="+ret("/x"))
	wantOK(t, "valid token, browser", get(t, "/x", header("Accept", html), bearer(admin)), "ok alice")
	wantForbidden(t, "valid token failing require, browser", get(t, "/x", header("Accept", html), bearer(hs(t, "bob", map[string]any{"role": "user"}))))

	wantMissing(t, "POST, browser", doRequest(t, http.MethodPost, "/x", header("Accept", html), body("a=1")))
	wantMissing(t, "PUT, browser", doRequest(t, http.MethodPut, "/x", header("Accept", html)))
	wantMissing(t, "API client", get(t, "/x", header("Accept", "application/json")))
	wantMissing(t, "no Accept", get(t, "/x"))
	wantInvalid(t, "API client, expired token", get(t, "/x", header("Accept", "application/json"),
		bearer(hs(t, "alice", map[string]any{"role": "admin", "exp": unixIn(-time.Hour)}))), "expired", "token expired")

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect /auth/login?from=site")))
	want302("redirect URL with a query", get(t, "/page?x=1", header("Accept", html)), "/auth/login?from=site&return="+ret("/page?x=1"))

	startCaddy(t, guardConfig(lines("secret "+hmac64, "redirect https://auth.example.com/login")))
	want302("redirect to another origin", get(t, "/page", header("Accept", html)), "https://auth.example.com/login?return="+ret("/page"))
}

// TestIntegrationExcept: except paths are Caddy path patterns, and no
// crafted path reaches a guarded file through them.
func TestIntegrationExcept(t *testing.T) {
	root := keyDir(t)
	for name, content := range map[string]string{
		"public/index.txt": "PUBLIC",
		"secret.txt":       "TOPSECRET",
		"health":           "HEALTH",
		"favicon.ico":      "ICON",
		"sub/favicon.ico":  "SUBICON",
		"exact":            "EXACT",
		"exactly":          "EXACTLY-GUARDED",
		"publicity.txt":    "PUBLICITY-GUARDED",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startCaddy(t, siteConfig(`	root * `+root+`
	jwt_auth {
		secret `+hmac64+`
		except /public/* /health *.ico /exact
	}
	file_server
`+errorsBlock))
	tok := hs(t, "alice", nil)

	wantOK(t, "/public/index.txt", get(t, "/public/index.txt"), "PUBLIC")
	wantOK(t, "/health", get(t, "/health"), "HEALTH")
	wantOK(t, "/favicon.ico", get(t, "/favicon.ico"), "ICON")
	wantOK(t, "/sub/favicon.ico", get(t, "/sub/favicon.ico"), "SUBICON")
	wantOK(t, "/exact", get(t, "/exact"), "EXACT")
	wantMissing(t, "/exactly", get(t, "/exactly"))
	wantMissing(t, "/publicity.txt", get(t, "/publicity.txt"))
	wantMissing(t, "/secret.txt", get(t, "/secret.txt"))
	wantOK(t, "/secret.txt with a token", get(t, "/secret.txt", bearer(tok)), "TOPSECRET")
	wantOK(t, "/exactly with a token", get(t, "/exactly", bearer(tok)), "EXACTLY-GUARDED")

	for _, target := range []string{
		"/public/../secret.txt",
		"/public/%2e%2e/secret.txt",
		"/public/%2E%2E/secret.txt",
		"//secret.txt",
		"/public%2f..%2fsecret.txt",
		"/public%2F..%2Fsecret.txt",
		"/public/..%2fsecret.txt",
		"/public/./../secret.txt",
		"/public//../secret.txt",
		"/health/../secret.txt",
		"/secret.txt/../secret.txt",
		"/secret.txt?x=/public/a",
		"/secret.txt#/public/",
		"/secret.txt;.ico",
		"/secret.txt%00.ico",
	} {
		r := rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n")
		wantNotServed(t, target, r, "TOPSECRET")
	}
}

// TestIntegrationCORSPreflight: a preflight passes without a token, any
// other OPTIONS needs one.
func TestIntegrationCORSPreflight(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	opts := func(o ...reqOpt) response { return doRequest(t, http.MethodOptions, "/api/x", o...) }
	wantAnonymous(t, "preflight", opts(header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
	wantMissing(t, "plain OPTIONS", opts())
	wantMissing(t, "OPTIONS with Origin only", opts(header("Origin", "https://app.example")))
	wantMissing(t, "OPTIONS with Access-Control-Request-Method only", opts(header("Access-Control-Request-Method", "POST")))
	wantOK(t, "OPTIONS with a token", opts(bearer(hs(t, "alice", nil))), "ok alice")
	wantMissing(t, "GET with preflight headers", get(t, "/api/x", header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
	wantMissing(t, "POST with preflight headers", doRequest(t, http.MethodPost, "/api/x", header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")))
}

// TestIntegrationPlaceholders: {http.auth.user.id} and
// {http.auth.user.<claim>}.
func TestIntegrationPlaceholders(t *testing.T) {
	startCaddy(t, siteConfig(`	jwt_auth {
		secret `+hmac64+`
	}
	respond "{http.auth.user.id}|{http.auth.user.role}|{http.auth.user.groups}|{http.auth.user.meta}|{http.auth.user.sub}|{http.auth.user.iss}|{http.auth.user.tmpl}" 200
`+errorsBlock))
	tok := hs(t, "alice", map[string]any{
		"role":   "admin",
		"groups": []string{"a", "b"},
		"meta":   map[string]any{"k": "v"},
		"iss":    "https://issuer.example",
		"tmpl":   "{http.request.uri}",
	})
	wantOK(t, "placeholders", get(t, "/x", bearer(tok)), `alice|admin|a,b|{"k":"v"}|alice|https://issuer.example|{http.request.uri}`)

	// {http.auth.user.id} fills the access log's user_id.
	logPath := filepath.Join(keyDir(t), "access.log")
	startCaddy(t, siteConfig(`	log {
		output file `+logPath+`
		format json
	}
	jwt_auth {
		secret `+hmac64+`
	}
	respond "ok {http.auth.user.id}" 200
`))
	wantOK(t, "logged request", get(t, "/logged", bearer(hs(t, "carol", nil))), "ok carol")
	deadline := time.Now().Add(3 * time.Second)
	var logged string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		logged = string(b)
		if strings.Contains(logged, `"uri":"/logged"`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logged, `"user_id":"carol"`) {
		t.Errorf("access log has no user_id carol:\n%s", logged)
	}
}

// TestIntegrationClaimHeaders: claim_header through reverse_proxy, with
// client copies stripped in every path and Connection neutralised.
func TestIntegrationClaimHeaders(t *testing.T) {
	upstream := echoServer(t).addr
	block := lines(
		"secret "+hmac64,
		"claim_header sub X-User",
		"claim_header roles X-Roles",
		"claim_header level X-Level",
		"claim_header ratio X-Ratio",
		"claim_header admin X-Admin",
		"claim_header off X-Off",
		"claim_header meta X-Meta",
		"claim_header note X-Note",
		"claim_header nul X-Nul",
		"claim_header del X-Del",
		"claim_header tab X-Tab",
		"claim_header cr X-Cr",
		"claim_header missing X-Missing",
		"claim_header tmpl X-Tmpl",
		"except /public/*",
	)
	// Caddy itself drops client headers with '_' unless they are
	// allowlisted; allowlist some, so that the guard's own folding of '_'
	// onto '-' is what keeps them from the upstream.
	startCaddy(t, globalBlockWith("\tservers {\n\t\texpected_underscore_headers x_note x_missing x_tmpl\n\t}")+
		"\n"+baseURL+" {\n\tjwt_auth {\n"+block+"\n\t}\n\treverse_proxy "+upstream+"\n"+errorsBlock+"}\n")
	tok := hs(t, "alice", map[string]any{
		"roles": []string{"a", "b"},
		"level": 3,
		"ratio": 2.5,
		"admin": true,
		"off":   false,
		"meta":  map[string]any{"a": 1},
		"note":  "line1\nline2",
		"nul":   "a\x00b",
		"del":   "a\x7fb",
		"tab":   "a\tb",
		"cr":    "a\rb",
		"tmpl":  "{http.request.host}",
	})
	spoof := []reqOpt{
		rawHeader("X-User", "mallory"),
		rawHeader("x-user", "mallory2"),
		rawHeader("X_User", "mallory3"),
		rawHeader("X-ROLES", "root"),
		rawHeader("X-Level", "99"),
		rawHeader("X_Note", "spoofed"),    // allowlisted above
		rawHeader("x_missing", "spoofed"), // allowlisted above
		rawHeader("X_Tmpl", "spoofed"),    // allowlisted above
	}
	wantHeaders := func(label string, e echoed, want map[string][]string) {
		t.Helper()
		for name, w := range want {
			got := headerValues(e.Headers, name)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", w) && !(len(got) == 0 && len(w) == 0) {
				t.Errorf("%s: upstream got %s %q, want %q", label, name, got, w)
			}
		}
	}

	e := decodeEcho(t, "authenticated", get(t, "/api", append([]reqOpt{bearer(tok)}, spoof...)...))
	wantHeaders("authenticated", e, map[string][]string{
		"X-User":    {"alice"},
		"X-Roles":   {"a,b"},
		"X-Level":   {"3"},
		"X-Ratio":   {"2.5"},
		"X-Admin":   {"true"},
		"X-Off":     {"false"},
		"X-Meta":    {`{"a":1}`},
		"X-Note":    nil,
		"X-Nul":     nil,
		"X-Del":     nil,
		"X-Tab":     nil,
		"X-Cr":      nil,
		"X-Missing": nil,
		"X-Tmpl":    {"{http.request.host}"},
	})

	e = decodeEcho(t, "except path", get(t, "/public/x", spoof...))
	wantHeaders("except path", e, map[string][]string{"X-User": nil, "X-Roles": nil, "X-Missing": nil, "X-Note": nil, "X-Level": nil, "X-Tmpl": nil})

	e = decodeEcho(t, "preflight", doRequest(t, http.MethodOptions, "/api", append([]reqOpt{
		header("Origin", "https://app.example"), header("Access-Control-Request-Method", "POST")}, spoof...)...))
	wantHeaders("preflight", e, map[string][]string{"X-User": nil, "X-Roles": nil, "X-Missing": nil, "X-Note": nil, "X-Level": nil, "X-Tmpl": nil})

	// Connection naming the header must not make the proxy drop it.
	for _, conn := range []string{"X-User", "x-user, X-Roles", "keep-alive, X-User"} {
		r := rawRequest(t, "GET /api HTTP/1.1\r\nHost: "+siteHost+"\r\nAuthorization: Bearer "+tok+
			"\r\nConnection: "+conn+"\r\nX-User: mallory\r\nX-Roles: root\r\n\r\n")
		e = decodeEcho(t, "Connection: "+conn, r)
		wantHeaders("Connection: "+conn, e, map[string][]string{"X-User": {"alice"}, "X-Roles": {"a,b"}})
	}

	// The guard leaves the body to the upstream.
	e = decodeEcho(t, "POST body", doRequest(t, http.MethodPost, "/api", bearer(tok), header("Content-Type", "text/plain"), body("hello-body")))
	if e.Body != "hello-body" {
		t.Errorf("upstream got body %q, want %q", e.Body, "hello-body")
	}

	// Refused requests never reach the upstream.
	wantMissing(t, "no token", get(t, "/api", spoof...))

	t.Run("optional, anonymous", func(t *testing.T) {
		startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64, "optional", "claim_header sub X-User")+"\n\t}\n\treverse_proxy "+upstream+"\n"+errorsBlock))
		e := decodeEcho(t, "anonymous", get(t, "/api", spoof...))
		wantHeaders("anonymous", e, map[string][]string{"X-User": nil})
		e = decodeEcho(t, "authenticated", get(t, "/api", append([]reqOpt{bearer(tok)}, spoof...)...))
		wantHeaders("authenticated", e, map[string][]string{"X-User": {"alice"}})
	})
}

// TestIntegrationMatcher: the directive's matcher limits what it guards.
func TestIntegrationMatcher(t *testing.T) {
	startCaddy(t, siteConfig("\tjwt_auth /api/* {\n"+lines("secret "+hmac64)+"\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n"+errorsBlock))
	wantMissing(t, "/api/x", get(t, "/api/x"))
	wantOK(t, "/api/x with a token", get(t, "/api/x", bearer(hs(t, "alice", nil))), "ok alice")
	wantAnonymous(t, "/other", get(t, "/other"))
}

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
		wantOK(t, "exp 10s ago within leeway", get(t, "/", bearer(mint(t, jwt.SigningMethodHS256, []byte(hmac64), with(map[string]any{"exp": unixIn(-10 * time.Second)}), nil))), "ok alice [alice]")
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
