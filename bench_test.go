package caddyjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// benchAlgs are the algorithms benchmarked, with the key that signs and
// the jwt_auth line that verifies.
func benchAlgs(b *testing.B) []struct {
	alg  string
	sign any
	conf string
} {
	keys := testKeys()
	dir := b.TempDir()
	return []struct {
		alg  string
		sign any
		conf string
	}{
		{"HS256", []byte(testSecret), "secret " + testSecret},
		{"ES256", keys["p256"], "key " + writePKIX(b, dir, "es.pem", &keys["p256"].(*ecdsa.PrivateKey).PublicKey)},
		{"RS256", keys["rsa"], "key " + writePKIX(b, dir, "rs.pem", &keys["rsa"].(*rsa.PrivateKey).PublicKey)},
		{"EdDSA", keys["ed25519"], "key " + writePKIX(b, dir, "ed.pem", keys["ed25519"].(ed25519.PrivateKey).Public())},
	}
}

// benchTokens signs n distinct tokens, as an IdP would for n users.
func benchTokens(b *testing.B, alg string, key any, n int) []string {
	toks := make([]string, n)
	for i := range toks {
		toks[i] = mint(b, alg, key, valid(jwt.MapClaims{
			"sub": fmt.Sprint("user", i), "jti": fmt.Sprint("jti-", i),
			"iss": "https://idp.example", "aud": "api", "scope": "read write", "email": "user@example.com",
		}), nil)
	}
	return toks
}

// benchServe runs requests through the handler's ServeHTTP, each with a
// replacer in its context as Caddy sets it up (made before timing: it is
// Caddy's cost, not the handler's), and a next handler that does nothing.
func benchServe(b *testing.B, h *Handler, tokens []string, wantStatus int) {
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	reqs := make([]*http.Request, len(tokens))
	auth := make([][]string, len(tokens))
	for i, tok := range tokens {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/api", nil)
		if tok != "" {
			auth[i] = []string{"Bearer " + tok}
		}
		reqs[i] = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := reqs[i%len(reqs)]
		if a := auth[i%len(reqs)]; a != nil {
			r.Header["Authorization"] = a // the guard removed it last time: requests are reused
		}
		err := h.ServeHTTP(w, r, next)
		if status := statusOf(err); status != wantStatus {
			b.Fatalf("status %d, want %d", status, wantStatus)
		}
	}
}

func statusOf(err error) int {
	if he, ok := err.(caddyhttp.HandlerError); ok {
		return he.StatusCode
	}
	return 0
}

// BenchmarkGuard measures a valid token through the whole handler, with
// a replacer per request as Caddy makes it: "hit" repeats one token (the
// verified-token cache answers), "miss" presents a different token every
// call with the cache off, so every call checks a signature. "rules" adds
// issuer, audience, a require rule and a claim header, which need the
// claims decoded.
func BenchmarkGuard(b *testing.B) {
	for _, a := range benchAlgs(b) {
		plain := "jwt_auth {\n " + a.conf + "\n}"
		rules := "jwt_auth {\n " + a.conf + "\n issuer https://idp.example\n audience api\n require scope read\n claim_header sub X-User\n}"
		for _, c := range []struct {
			name, block string
			cache       bool
			tokens      int
		}{
			{"hit", plain, true, 1},
			{"miss", plain, false, 500},
			{"rules/hit", rules, true, 1},
			{"rules/miss", rules, false, 500},
		} {
			b.Run(a.alg+"/"+c.name, func(b *testing.B) {
				h := mustProvision(b, c.block)
				if !c.cache {
					h.cache = nil
				}
				benchServe(b, h, benchTokens(b, a.alg, a.sign, c.tokens), 0)
			})
		}
	}
}

// BenchmarkGuardRefusals measures what refused requests cost.
func BenchmarkGuardRefusals(b *testing.B) {
	h := mustProvision(b, "jwt_auth {\n secret "+testSecret+"\n}")
	good := mint(b, "HS256", []byte(testSecret), valid(nil), nil)
	for name, tok := range map[string]string{
		"missing":       "",
		"malformed":     "not-a-token",
		"bad_signature": good[:len(good)-2] + "AA",
		"expired":       mint(b, "HS256", []byte(testSecret), valid(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}), nil),
	} {
		b.Run(name, func(b *testing.B) { benchServe(b, h, []string{tok}, 401) })
	}
}

// BenchmarkBareSignature is the physical limit of a miss: hashing the
// signing input and checking the signature, nothing else.
func BenchmarkBareSignature(b *testing.B) {
	keys := testKeys()
	for _, a := range benchAlgs(b) {
		if a.alg == "HS256" {
			continue
		}
		tokens := benchTokens(b, a.alg, a.sign, 500)
		type parts struct{ input, sig []byte }
		split := make([]parts, len(tokens))
		for i, tok := range tokens {
			dot := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
			split[i] = parts{[]byte(tok[:dot]), sig}
		}
		b.Run(a.alg, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := split[i%len(split)]
				var ok bool
				switch a.alg {
				case "ES256":
					sum := sha256.Sum256(p.input)
					r, s := new(big.Int).SetBytes(p.sig[:32]), new(big.Int).SetBytes(p.sig[32:])
					ok = ecdsa.Verify(&keys["p256"].(*ecdsa.PrivateKey).PublicKey, sum[:], r, s)
				case "RS256":
					sum := sha256.Sum256(p.input)
					ok = rsa.VerifyPKCS1v15(&keys["rsa"].(*rsa.PrivateKey).PublicKey, crypto.SHA256, sum[:], p.sig) == nil
				case "EdDSA":
					ok = ed25519.Verify(keys["ed25519"].(ed25519.PrivateKey).Public().(ed25519.PublicKey), p.input, p.sig)
				}
				if !ok {
					b.Fatal("signature does not verify")
				}
			}
		})
	}
}

// BenchmarkLogin compares a JSON login with the bcrypt comparison it
// cannot avoid, at the same cost.
func BenchmarkLogin(b *testing.B) {
	const cost = 10
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), cost)
	b.Run("bcrypt", func(b *testing.B) {
		for b.Loop() {
			if bcrypt.CompareHashAndPassword(hash, []byte("right")) != nil {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("login", func(b *testing.B) {
		h := mustProvision(b, "jwt_auth {\n key auto\n user alice "+string(hash)+"\n login /login\n refresh /refresh\n}")
		next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "http://example.com/login", strings.NewReader(`{"username":"alice","password":"right"}`))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
				b.Fatalf("login: %v %d", err, w.Code)
			}
		}
	})
}
