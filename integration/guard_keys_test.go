package integration

// The guard's keys: HMAC secrets, key files in every format, algorithm
// confusion, kid selection and narrowing the algorithms.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

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
			// The key with its first bit flipped: different by
			// construction. (Putting a "Z" in front of key[1:] was the
			// key itself whenever a random secret began with "Z", one
			// run in 256, and the refusal then failed.)
			wrong := bytes.Clone(c.key)
			wrong[0] ^= 1
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
