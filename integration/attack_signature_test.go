package integration

// Attacks on the signature check (see the table in attack_test.go): key
// and curve confusion, and forged signature values.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// attackPublicForms are the byte strings an attacker may try as the HMAC
// secret when a server holds pub: its PEM and DER encodings, its JWK, its
// raw key bytes.
func attackPublicForms(t *testing.T, pub any) map[string][]byte {
	t.Helper()
	pkix := pkixPEM(t, pub)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"PKIX PEM":                    pkix,
		"PKIX PEM, no final newline":  bytes.TrimRight(pkix, "\n"),
		"PKIX PEM, CRLF line endings": bytes.ReplaceAll(pkix, []byte("\n"), []byte("\r\n")),
		"PKIX DER":                    der,
		"JWK JSON":                    jsonBytes(t, jwk(t, pub, "", "")),
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		ek, err := p.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		forms["uncompressed point"] = ek.Bytes()
	case ed25519.PublicKey:
		forms["raw 32 bytes"] = []byte(p)
	}
	return forms
}

// TestAttackKeyConfusion: RS256→HS256 and its EC and Ed25519 cousins. The
// public key, in every encoding an attacker may guess (PEM PKCS #1 and
// PKIX, with and without the final newline, DER, JWK, raw bytes), used as
// an HMAC secret for HS256/384/512, against the key alone, the key as a
// JWK with a kid the token names, and the key beside a real secret (with
// and without a kid).
func TestAttackKeyConfusion(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	type keyType struct {
		name  string
		pub   any
		good  jwt.SigningMethod
		priv  any
		extra map[string][]byte
	}
	rsaPKCS1 := pkcs1PublicPEM(&k.rsa.PublicKey)
	for _, kt := range []keyType{
		{"rsa", &k.rsa.PublicKey, jwt.SigningMethodRS256, k.rsa, map[string][]byte{
			"PKCS #1 PEM":                   rsaPKCS1,
			"PKCS #1 PEM, no final newline": bytes.TrimRight(rsaPKCS1, "\n"),
			"PKCS #1 DER":                   x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey),
			"modulus bytes":                 k.rsa.PublicKey.N.Bytes(),
		}},
		{"ec-p256", &k.ec256.PublicKey, jwt.SigningMethodES256, k.ec256, nil},
		{"ed25519", k.ed.Public(), jwt.SigningMethodEdDSA, k.ed, nil},
	} {
		t.Run(kt.name, func(t *testing.T) {
			forms := attackPublicForms(t, kt.pub)
			for name, b := range kt.extra {
				forms[name] = b
			}
			pemFile := writeFile(t, dir, kt.name+".pem", pkixPEM(t, kt.pub))
			jwkFile := writeFile(t, dir, kt.name+".json", jsonBytes(t, jwk(t, kt.pub, "k", "")))
			for _, c := range []struct {
				name, body, kid, desc string
			}{
				{"key alone", lines("key " + pemFile), "", "algorithm not accepted"},
				{"jwk with a kid the token names", lines("key " + jwkFile), "k", "algorithm not accepted"},
				{"beside a secret", lines("secret "+hmac64, "key "+pemFile), "", "signature invalid"},
				{"beside a secret, the token naming the key's kid", lines("secret "+hmac64, "key "+pemFile+" k"), "k", "algorithm not accepted"},
			} {
				t.Run(c.name, func(t *testing.T) {
					startCaddy(t, guardConfig(c.body))
					var hdr map[string]any
					if c.kid != "" {
						hdr = map[string]any{"kid": c.kid}
					}
					wantOK(t, kt.good.Alg()+" sanity", get(t, "/", bearer(mint(t, kt.good, kt.priv, claims("alice", nil), hdr))), "ok alice")
					var rows []attackRow
					for name, secret := range forms {
						for _, alg := range []string{"HS256", "HS384", "HS512"} {
							h := fmt.Sprintf(`{"alg":%q,"typ":"JWT"}`, alg)
							if c.kid != "" {
								h = fmt.Sprintf(`{"alg":%q,"typ":"JWT","kid":%q}`, alg, c.kid)
							}
							rows = append(rows, attackRow{alg + " with the " + kt.name + " public key as secret (" + name + ")",
								textToken(h, attackClaims(""), hmacSignerFor(alg, secret)), "bad_signature", c.desc})
						}
					}
					attackRun(t, rows, nil)
				})
			}
		})
	}
}

// TestAttackCurveConfusion: an ES token against an Ed25519 key and the
// reverse, ES384/ES512 signed by a P-256 key with the longer hash, an
// ES256 token signed on P-384, each with and without a kid naming the key.
func TestAttackCurveConfusion(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	p256 := writeFile(t, dir, "p256.pem", pkixPEM(t, &k.ec256.PublicKey))
	p384 := writeFile(t, dir, "p384.pem", pkixPEM(t, &k.ec384.PublicKey))
	ed := writeFile(t, dir, "ed.pem", pkixPEM(t, k.ed.Public()))
	payload := attackClaims("")
	hdr := func(alg, kid string) string {
		if kid == "" {
			return fmt.Sprintf(`{"alg":%q}`, alg)
		}
		return fmt.Sprintf(`{"alg":%q,"kid":%q}`, alg, kid)
	}
	es := func(alg, kid string, key *ecdsa.PrivateKey, h crypto.Hash) string {
		return textToken(hdr(alg, kid), payload, attackES(t, key, h))
	}
	edTok := func(alg, kid string) string { return textToken(hdr(alg, kid), payload, attackEd(k.ed)) }

	t.Run("P-256 key", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+p256)))
		wantOK(t, "ES256 sanity", get(t, "/", bearer(es("ES256", "", k.ec256, crypto.SHA256))), "ok alice")
		attackRun(t, []attackRow{
			{"ES384 signed by the P-256 key with SHA-384", es("ES384", "", k.ec256, crypto.SHA384), "bad_signature", "algorithm not accepted"},
			{"ES512 signed by the P-256 key with SHA-512", es("ES512", "", k.ec256, crypto.SHA512), "bad_signature", "algorithm not accepted"},
			{"EdDSA token against an EC key", edTok("EdDSA", ""), "bad_signature", "algorithm not accepted"},
			{"ES256 signed on P-384", es("ES256", "", k.ec384, crypto.SHA256), "bad_signature", "signature invalid"},
			{"ES256 header over an Ed25519 signature", edTok("ES256", ""), "bad_signature", "signature invalid"},
		}, nil)
	})
	t.Run("Ed25519 key", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+ed)))
		wantOK(t, "EdDSA sanity", get(t, "/", bearer(edTok("EdDSA", ""))), "ok alice")
		attackRun(t, []attackRow{
			{"ES256 token against an Ed25519 key", es("ES256", "", k.ec256, crypto.SHA256), "bad_signature", "algorithm not accepted"},
			{"ES256 header over the Ed25519 signature", edTok("ES256", ""), "bad_signature", "algorithm not accepted"},
			{"Ed25519 spelt Ed25519", edTok("Ed25519", ""), "bad_signature", "algorithm not accepted"},
			{"EdDSA over an ES256 signature", es("EdDSA", "", k.ec256, crypto.SHA256), "bad_signature", "signature invalid"},
		}, nil)
	})
	t.Run("P-256 and P-384 keys", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+p256, "key "+p384)))
		wantOK(t, "ES384 sanity", get(t, "/", bearer(es("ES384", "", k.ec384, crypto.SHA384))), "ok alice")
		attackRun(t, []attackRow{
			{"ES384 signed by the P-256 key with SHA-384", es("ES384", "", k.ec256, crypto.SHA384), "bad_signature", "signature invalid"},
			{"ES256 signed by the P-384 key with SHA-256", es("ES256", "", k.ec384, crypto.SHA256), "bad_signature", "signature invalid"},
		}, nil)
	})
	t.Run("keys with kids", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+p256+" e1", "key "+p384+" e2", "key "+ed+" d1")))
		wantOK(t, "ES256 e1", get(t, "/", bearer(es("ES256", "e1", k.ec256, crypto.SHA256))), "ok alice")
		wantOK(t, "ES384 e2", get(t, "/", bearer(es("ES384", "e2", k.ec384, crypto.SHA384))), "ok alice")
		wantOK(t, "EdDSA d1", get(t, "/", bearer(edTok("EdDSA", "d1"))), "ok alice")
		attackRun(t, []attackRow{
			{"ES384 naming the P-256 kid, signed by it with SHA-384", es("ES384", "e1", k.ec256, crypto.SHA384), "bad_signature", "algorithm not accepted"},
			{"ES256 naming the P-384 kid, signed by the P-256 key", es("ES256", "e2", k.ec256, crypto.SHA256), "bad_signature", "algorithm not accepted"},
			{"ES256 naming the P-384 kid, signed by it with SHA-256", es("ES256", "e2", k.ec384, crypto.SHA256), "bad_signature", "algorithm not accepted"},
			{"EdDSA naming the EC kid", edTok("EdDSA", "e1"), "bad_signature", "algorithm not accepted"},
			{"ES256 naming the Ed25519 kid", es("ES256", "d1", k.ec256, crypto.SHA256), "bad_signature", "algorithm not accepted"},
		}, nil)
	})
}

// TestAttackSignatureValues: signatures no key made — ECDSA r = s = 0
// (CVE-2022-21449), r or s = 0 or n, all-ones, DER, wrong lengths, an
// Ed25519 signature of zeros, of the identity point, with S + L; RSA
// zeros, one, the modulus, a 257th byte; a truncated or extended HMAC; a
// signature of another token; and the empty signature part.
func TestAttackSignatureValues(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	startCaddy(t, guardConfig(lines(
		"secret "+hmac64,
		"key "+writeFile(t, dir, "e256.pem", pkixPEM(t, &k.ec256.PublicKey))+" e256",
		"key "+writeFile(t, dir, "e384.pem", pkixPEM(t, &k.ec384.PublicKey))+" e384",
		"key "+writeFile(t, dir, "e521.pem", pkixPEM(t, &k.ec521.PublicKey))+" e521",
		"key "+writeFile(t, dir, "ed.pem", pkixPEM(t, k.ed.Public()))+" d1",
		"key "+writeFile(t, dir, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey))+" r1",
	)))
	payload := attackClaims(`,"role":"admin"`)
	other := attackClaims(`,"role":"guest"`)
	with := func(hdr string, sig []byte) string {
		return attackSeg(hdr) + "." + attackSeg(payload) + "." + b64u.EncodeToString(sig)
	}
	input := func(hdr string) string { return attackSeg(hdr) + "." + attackSeg(payload) }
	var rows []attackRow
	add := func(name, tok string) {
		rows = append(rows, attackRow{name, tok, "bad_signature", "signature invalid"})
	}

	for _, c := range []struct {
		alg, kid string
		key      *ecdsa.PrivateKey
		h        crypto.Hash
	}{
		{"ES256", "e256", k.ec256, crypto.SHA256},
		{"ES384", "e384", k.ec384, crypto.SHA384},
		{"ES512", "e521", k.ec521, crypto.SHA512},
	} {
		hdr := fmt.Sprintf(`{"alg":%q,"kid":%q}`, c.alg, c.kid)
		r, s := attackRandS(t, c.key, c.h, input(hdr))
		valid := attackRS2(c.key, r, s)
		wantOK(t, c.alg+" sanity", get(t, "/", bearer(with(hdr, valid))), "ok alice")
		n := c.key.Curve.Params().N
		zero := new(big.Int)
		size := len(valid) / 2
		add(c.alg+": r = s = 0 (psychic signature)", with(hdr, attackRS2(c.key, zero, zero)))
		add(c.alg+": r = 0", with(hdr, attackRS2(c.key, zero, s)))
		add(c.alg+": s = 0", with(hdr, attackRS2(c.key, r, zero)))
		add(c.alg+": r = s = n", with(hdr, attackRS2(c.key, n, n)))
		add(c.alg+": r = n", with(hdr, attackRS2(c.key, n, s)))
		add(c.alg+": s = n", with(hdr, attackRS2(c.key, r, n)))
		if rn := new(big.Int).Add(r, n); rn.BitLen() <= 8*size {
			add(c.alg+": r = r + n", with(hdr, attackRS2(c.key, rn, s)))
		}
		add(c.alg+": all ones", with(hdr, bytes.Repeat([]byte{0xff}, len(valid))))
		add(c.alg+": all zeros, DER", with(hdr, []byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}))
		add(c.alg+": s left-padded with a zero byte", with(hdr, append(append(append([]byte{}, valid[:size]...), 0), valid[size:]...)))
		add(c.alg+": r and s left-padded", with(hdr, append(append(append([]byte{0}, valid[:size]...), 0), valid[size:]...)))
		add(c.alg+": one byte short", with(hdr, valid[:len(valid)-1]))
		add(c.alg+": one byte more", with(hdr, append(append([]byte{}, valid...), 0)))
		add(c.alg+": half", with(hdr, valid[:size]))
		add(c.alg+": signature of another token", with(hdr, attackES(t, c.key, c.h)(attackSeg(hdr)+"."+attackSeg(other))))
	}

	edHdr := `{"alg":"EdDSA","kid":"d1"}`
	edValid := ed25519.Sign(k.ed, []byte(input(edHdr)))
	wantOK(t, "EdDSA sanity", get(t, "/", bearer(with(edHdr, edValid))), "ok alice")
	identity := make([]byte, 64)
	identity[0] = 1 // the neutral point's encoding as R, with S = 0
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	sLE := edValid[32:]
	sBE := make([]byte, 32)
	for i := range sLE {
		sBE[31-i] = sLE[i]
	}
	sPlusL := new(big.Int).Add(new(big.Int).SetBytes(sBE), l).FillBytes(make([]byte, 32))
	nonCanonical := append([]byte{}, edValid[:32]...)
	for i := 31; i >= 0; i-- {
		nonCanonical = append(nonCanonical, sPlusL[i])
	}
	add("EdDSA: all zeros", with(edHdr, make([]byte, 64)))
	add("EdDSA: identity R, S = 0", with(edHdr, identity))
	add("EdDSA: S + L (non-canonical)", with(edHdr, nonCanonical))
	add("EdDSA: one byte short", with(edHdr, edValid[:63]))
	add("EdDSA: one byte more", with(edHdr, append(append([]byte{}, edValid...), 0)))
	add("EdDSA: signature of another token", with(edHdr, ed25519.Sign(k.ed, []byte(attackSeg(edHdr)+"."+attackSeg(other)))))

	rsHdr, psHdr := `{"alg":"RS256","kid":"r1"}`, `{"alg":"PS256","kid":"r1"}`
	rsValid := attackRS(t, k.rsa, crypto.SHA256, false)(input(rsHdr))
	wantOK(t, "RS256 sanity", get(t, "/", bearer(with(rsHdr, rsValid))), "ok alice")
	one := make([]byte, 256)
	one[255] = 1
	add("RS256: all zeros", with(rsHdr, make([]byte, 256)))
	add("RS256: one", with(rsHdr, one))
	add("RS256: the modulus", with(rsHdr, k.rsa.PublicKey.N.Bytes()))
	add("RS256: a leading zero byte", with(rsHdr, append([]byte{0}, rsValid...)))
	add("RS256: one byte short", with(rsHdr, rsValid[1:]))
	add("RS256: a PSS signature", with(rsHdr, attackRS(t, k.rsa, crypto.SHA256, true)(input(rsHdr))))
	add("PS256: a PKCS #1 v1.5 signature", with(psHdr, attackRS(t, k.rsa, crypto.SHA256, false)(input(psHdr))))
	add("PS256: all zeros", with(psHdr, make([]byte, 256)))

	for _, c := range []struct{ alg, other string }{{"HS256", "HS512"}, {"HS384", "HS256"}, {"HS512", "HS256"}} {
		hdr := fmt.Sprintf(`{"alg":%q}`, c.alg)
		mac := hmacSignerFor(c.alg, []byte(hmac64))(input(hdr))
		wantOK(t, c.alg+" sanity", get(t, "/", bearer(with(hdr, mac))), "ok alice")
		add(c.alg+": the MAC cut to 16 bytes", with(hdr, mac[:16]))
		add(c.alg+": the MAC cut to 1 byte", with(hdr, mac[:1]))
		add(c.alg+": the MAC and one byte more", with(hdr, append(append([]byte{}, mac...), 0)))
		add(c.alg+": zeros", with(hdr, make([]byte, len(mac))))
		add(c.alg+": the "+c.other+" MAC", with(hdr, hmacSignerFor(c.other, []byte(hmac64))(input(hdr))))
		add(c.alg+": the MAC of the header only", with(hdr, hmacSignerFor(c.alg, []byte(hmac64))(attackSeg(hdr))))
		add(c.alg+": the MAC of another token", with(hdr, hmacSignerFor(c.alg, []byte(hmac64))(attackSeg(hdr)+"."+attackSeg(other))))
	}
	sm := hmacSignerFor("HS512", []byte(hmac64))(input(`{"alg":"HS512"}`))
	add("HS512: its MAC cut to 32 bytes", with(`{"alg":"HS512"}`, sm[:32]))

	for _, hdr := range []string{`{"alg":"HS256"}`, `{"alg":"RS256","kid":"r1"}`, `{"alg":"PS256","kid":"r1"}`, `{"alg":"ES256","kid":"e256"}`, `{"alg":"EdDSA","kid":"d1"}`} {
		rows = append(rows, attackRow{"empty signature, " + hdr, with(hdr, nil), "malformed", "token malformed"})
	}
	attackRun(t, rows, nil)
}
