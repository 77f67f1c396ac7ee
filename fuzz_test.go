package caddyjwt

// Fuzz targets for what reads untrusted or hand-written input: tokens and
// where they are found, the Caddyfile, claim rules, the login return URL
// and the users file. `go test -run '^$' -fuzz '^FuzzX$' .` runs one long;
// a failing input lands in testdata/fuzz/FuzzX and stays as a seed.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// fuzzNow is the clock of the token targets: fixed, so that the seeds stay
// valid and golang-jwt judges a token at the same instant as the guard.
var fuzzNow = time.Unix(1_750_000_000, 0)

// fixClock sets the package clock to fuzzNow for the rest of the target.
func fixClock(f *testing.F) {
	orig := now
	now = func() time.Time { return fuzzNow }
	f.Cleanup(func() { now = orig })
}

// fixedFailures are the errors the guard may refuse a token with.
var fixedFailures = []*failure{
	errMissing, errMalformed, errHeader, errExpired, errNotYetValid, errSignature, errUnknownKey,
	errAlgorithm, errIssuer, errAudience, errExpMissing, errLifetime, errClaimType, errTokenType,
	errRevoked, errForbidden, errCrossOrigin,
}

// isFixedFailure tells whether err is one of the guard's own failures
// (the very value, not something that merely reads alike).
func isFixedFailure(err error) bool {
	f, ok := err.(*failure)
	return ok && slices.Contains(fixedFailures, f)
}

// fuzzGuard is a provisioned handler with what an independent check of the
// tokens it accepts needs: its keys by algorithm and the golang-jwt
// parser options that say the same as its configuration.
type fuzzGuard struct {
	name string
	h    *Handler
	keys map[string][]jwt.VerificationKey
	opts []jwt.ParserOption
	// latestExp, when set, is the furthest exp max_lifetime lets through
	// (golang-jwt has no such check).
	latestExp float64
}

// fuzzSigners are the keys FuzzVerify signs with, by the low bits of its
// how byte: the guards' three keys, then two that they must never accept:
// HS256 keyed with the PEM text of the P-256 public key (the classic
// algorithm confusion) and HS256 with another secret.
type fuzzSigner struct {
	method jwt.SigningMethod
	key    any
}

type fuzzEnv struct {
	guards  []*fuzzGuard
	signers []fuzzSigner
}

// newFuzzEnv provisions two guards on the same keys (an HMAC secret, a
// P-256 key with kid ec1, an Ed25519 key without kid): a loose one
// (allow_missing_exp, default leeway) and a strict one (issuer, audience,
// max_lifetime, leeway 5s, no Ed25519 key), and fixes the clock.
func newFuzzEnv(f *testing.F) *fuzzEnv {
	fixClock(f)
	keys := testKeys()
	p256 := keys["p256"].(*ecdsa.PrivateKey)
	ed := keys["ed25519"].(ed25519.PrivateKey)
	dir := f.TempDir()
	ecFile := writePKCS8(f, dir, "ec.pem", p256)
	edFile := writePKCS8(f, dir, "ed.pem", ed)
	secret := []byte(testSecret)
	pubDER, err := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	common := []jwt.ParserOption{
		jwt.WithTimeFunc(func() time.Time { return fuzzNow }), jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(), jwt.WithJSONNumber(),
	}
	loose := &fuzzGuard{
		name: "loose",
		h:    mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n key "+ecFile+" ec1\n key "+edFile+"\n allow_missing_exp\n}"),
		keys: map[string][]jwt.VerificationKey{"HS256": {secret}, "ES256": {&p256.PublicKey}, "EdDSA": {ed.Public()}},
		opts: append(slices.Clone(common), jwt.WithValidMethods([]string{"HS256", "ES256", "EdDSA"}), jwt.WithLeeway(30*time.Second)),
	}
	strict := &fuzzGuard{
		name: "strict",
		h: mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n key "+ecFile+" ec1\n issuer https://issuer.example\n"+
			" audience api web\n max_lifetime 1h\n leeway 5s\n}"),
		keys: map[string][]jwt.VerificationKey{"HS256": {secret}, "ES256": {&p256.PublicKey}},
		opts: append(slices.Clone(common), jwt.WithValidMethods([]string{"HS256", "ES256"}), jwt.WithLeeway(5*time.Second),
			jwt.WithExpirationRequired(), jwt.WithIssuer("https://issuer.example"), jwt.WithAudience("api", "web")),
		latestExp: float64(fuzzNow.Add(time.Hour + 5*time.Second).Unix()),
	}
	return &fuzzEnv{
		guards: []*fuzzGuard{loose, strict},
		signers: []fuzzSigner{
			{jwt.SigningMethodHS256, secret},
			{jwt.SigningMethodES256, p256},
			{jwt.SigningMethodEdDSA, ed},
			{jwt.SigningMethodHS256, pubPEM},
			{jwt.SigningMethodHS256, []byte("another secret, 32 bytes long...")},
		},
	}
}

// sign makes a compact token of the header and claims bytes as they are,
// signed by the signer the low bits of how pick; with how's top bit set,
// one bit of the signature is flipped.
func (env *fuzzEnv) sign(header, claims []byte, how byte) string {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	s := env.signers[int(how&0x7f)%len(env.signers)]
	sig, err := s.method.Sign(input, s.key)
	if err != nil {
		panic(err) // the signers are fixed keys of the right types
	}
	if how&0x80 != 0 {
		sig[len(sig)/2] ^= 1
	}
	return input + "." + b64.EncodeToString(sig)
}

// seedClaims are claims valid for both guards at fuzzNow.
const seedClaims = `{"iss":"https://issuer.example","sub":"alice","aud":"api","iat":1750000000,"nbf":1750000000,"exp":1750000600,"jti":"j1"}`

// jwtAccepts tells whether golang-jwt, configured like the guard, accepts
// the token.
func (g *fuzzGuard) jwtAccepts(raw string) bool {
	_, err := jwt.NewParser(g.opts...).Parse(raw, func(tok *jwt.Token) (any, error) {
		keys := g.keys[tok.Method.Alg()]
		if len(keys) == 0 {
			return nil, jwt.ErrTokenUnverifiable
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	return err == nil
}

// checkAccepted holds a token the guard accepted to what acceptance must
// mean, judged without the guard's code: three strict base64url parts, a
// header without crit naming one of the guard's algorithms, not a refresh
// token, a signature over exactly the first two parts by one of the
// guard's keys for that algorithm, golang-jwt accepting it too, and an
// exp within max_lifetime.
func (g *fuzzGuard) checkAccepted(t *testing.T, raw string, id *identity) {
	t.Helper()
	if !compactOracle(raw) {
		t.Fatalf("%s accepted a token that is not compact: %q", g.name, raw)
	}
	parts := strings.Split(raw, ".")
	strict := base64.RawURLEncoding.Strict()
	header, err1 := strict.DecodeString(parts[0])
	payload, err2 := strict.DecodeString(parts[1])
	sig, err3 := strict.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("%s accepted a token whose parts are not strict base64url: %q", g.name, raw)
	}
	var hdr map[string]any
	if err := json.Unmarshal(header, &hdr); err != nil {
		t.Fatalf("%s accepted a header that is not a JSON object: %q", g.name, header)
	}
	alg, _ := hdr["alg"].(string)
	if _, crit := hdr["crit"]; crit {
		t.Fatalf("%s accepted a crit header: %q", g.name, header)
	}
	if typ, _ := hdr["typ"].(string); strings.EqualFold(typ, "refresh+jwt") || strings.EqualFold(typ, "application/refresh+jwt") {
		t.Fatalf("%s accepted a refresh token: %q", g.name, header)
	}
	if kid, _ := hdr["kid"].(string); kid == "ec1" && alg != "ES256" {
		t.Fatalf("%s accepted alg %q for the ES256 key's kid", g.name, alg)
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || len(g.keys[alg]) == 0 {
		t.Fatalf("%s accepted alg %q, which none of its keys serves", g.name, alg)
	}
	signed := raw[:strings.LastIndexByte(raw, '.')]
	if !slices.ContainsFunc(g.keys[alg], func(k jwt.VerificationKey) bool { return method.Verify(signed, sig, k) == nil }) {
		t.Fatalf("%s accepted a token not signed by its %s key: %q", g.name, alg, raw)
	}
	if !g.jwtAccepts(raw) {
		t.Fatalf("%s accepted a token golang-jwt refuses: %q", g.name, raw)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("%s accepted claims that are not a JSON object: %q", g.name, payload)
	}
	if exp, _ := claims["exp"].(float64); g.latestExp > 0 && !(exp > 0 && exp < g.latestExp+1) {
		t.Fatalf("%s accepted exp %v, beyond max_lifetime", g.name, claims["exp"])
	}
	if sub, _ := claims["sub"].(string); id == nil || id.sub != sub {
		t.Fatalf("%s: identity sub %v, claims say %q", g.name, id, sub)
	}
}

// compactOracle is the spec's rule for a token's form, written out: at
// most 16 KiB, three non-empty parts of the base64url alphabet.
func compactOracle(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(tok) > 16*1024 || len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// challengePattern is every WWW-Authenticate the guard may send for
// example.com: no token, or one of the fixed descriptions.
var challengePattern = func() *regexp.Regexp {
	var descs []string
	for _, f := range fixedFailures {
		descs = append(descs, regexp.QuoteMeta(f.description))
	}
	return regexp.MustCompile(`^Bearer realm="example\.com"(, error="invalid_token", error_description="(` +
		strings.Join(descs, "|") + `)"|, error="insufficient_scope")?$`)
}()

// FuzzRawToken feeds arbitrary text to the guard as a token: splitCompact
// agrees with the spec's rule for the form; parseToken, verify and the
// whole handler never panic; refusals are the fixed failures, with a
// WWW-Authenticate that echoes nothing; what is accepted passes
// checkAccepted.
func FuzzRawToken(f *testing.F) {
	env := newFuzzEnv(f)
	good := env.sign([]byte(`{"alg":"ES256","kid":"ec1","typ":"JWT"}`), []byte(seedClaims), 1)
	parts := strings.Split(good, ".")
	hs := strings.Split(env.sign([]byte(`{"alg":"HS256"}`), []byte(seedClaims), 0), ".")
	flipped := map[byte]string{'A': "B"}[parts[2][0]]
	if flipped == "" {
		flipped = "A"
	}
	for _, seed := range []string{
		good,
		strings.Join(hs, "."),
		parts[0] + "." + parts[1] + "." + flipped + parts[2][1:],                                                 // a signature bit changed
		hs[0] + "." + b64.EncodeToString([]byte(strings.Replace(seedClaims, "alice", "admin", 1))) + "." + hs[2], // claims changed
		parts[0] + "." + parts[1] + "." + hs[2],                                                                  // another token's signature
		env.sign([]byte(`{"alg":"EdDSA"}`), []byte(seedClaims), 2),
		parts[0] + "=." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "+." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2] + "/",
		parts[0] + "." + parts[1][:4] + "\r" + parts[1][4:] + "." + parts[2],
		parts[0] + "." + parts[1] + "\n." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", // non-zero trailing bits
		parts[0] + "." + parts[1],
		good + ".x",
		"a.b.c.d.e",
		parts[0] + ".." + parts[2],
		`{"payload":"x","signatures":[]}`,
		"a." + strings.Repeat("b", maxTokenBytes-4) + ".c",
		"a." + strings.Repeat("b", maxTokenBytes-3) + ".c",
		"",
		"...",
		"eyJhbGciOiJub25lIn0.e30.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		compact := compactOracle(raw)
		if _, _, err := splitCompact(raw); (err == nil) != compact || (err != nil && err != errMalformed) {
			t.Fatalf("splitCompact(%q) = %v, the spec says compact=%v", raw, err, compact)
		}
		if compact {
			tok, err := parseToken(raw)
			if err != nil && err != errMalformed {
				t.Fatalf("parseToken(%q): %v, not a fixed failure", raw, err)
			}
			if err == nil && string(tok.signingInput) != raw[:strings.LastIndexByte(raw, '.')] {
				t.Fatalf("parseToken(%q): signing input %q", raw, tok.signingInput)
			}
		}
		for _, g := range env.guards {
			id, err := g.h.verify(raw)
			if err != nil {
				if !isFixedFailure(err) {
					t.Fatalf("%s: verify(%q) = %v, not a fixed failure", g.name, raw, err)
				}
			} else {
				g.checkAccepted(t, raw, id)
			}
			res := serve(t, g.h, bearer(raw))
			if res.status == 0 {
				tok := strings.TrimSpace(raw)
				id, err := g.h.verify(tok)
				if err != nil {
					t.Fatalf("%s let a request through whose token verify refuses: %q", g.name, raw)
				}
				g.checkAccepted(t, tok, id)
				continue
			}
			if res.status != http.StatusUnauthorized || !challengePattern.MatchString(res.header.Get("WWW-Authenticate")) {
				t.Fatalf("%s: %q answered %d with WWW-Authenticate %q", g.name, raw, res.status, res.header.Get("WWW-Authenticate"))
			}
		}
	})
}

// FuzzVerify signs fuzzed header and claims bytes itself (with a guard's
// key, or with a key the guards must refuse, or flips a signature bit),
// so that the fuzzer explores what lies behind a valid signature. What a
// guard accepts passes checkAccepted (so golang-jwt accepts it too);
// refusals are fixed failures; and when golang-jwt accepts, the guard
// refuses only for what the spec makes it stricter about (its JSON, crit,
// refresh typ, kid, claim types, max_lifetime), never for the signature,
// the times, the issuer or the audience.
func FuzzVerify(f *testing.F) {
	env := newFuzzEnv(f)
	for _, seed := range []struct {
		header, claims string
		how            byte
	}{
		{`{"alg":"HS256","typ":"JWT"}`, seedClaims, 0},
		{`{"alg":"ES256","kid":"ec1"}`, seedClaims, 1},
		{`{"alg":"ES256"}`, seedClaims, 1},
		{`{"alg":"EdDSA"}`, seedClaims, 2},
		{`{"alg":"HS256","kid":"ec1"}`, seedClaims, 0},
		{`{"alg":"HS256","kid":"other"}`, seedClaims, 0},
		{`{"alg":"ES256","kid":"other"}`, seedClaims, 1},
		{`{"alg":"HS256","kid":5}`, seedClaims, 0},
		{`{"alg":"HS256","kid":"ec1"}`, seedClaims, 3},
		{`{"alg":"HS256"}`, seedClaims, 3},
		{`{"alg":"HS256"}`, seedClaims, 4},
		{`{"alg":"ES256","kid":"ec1"}`, seedClaims, 0x81},
		{`{"alg":"HS256"}`, seedClaims, 0x80},
		{`{"alg":"none"}`, seedClaims, 0},
		{`{"alg":"HS384"}`, seedClaims, 0},
		{`{"alg":"HS256","crit":["exp"],"exp":1}`, seedClaims, 0},
		{`{"alg":"HS256","b64":false}`, seedClaims, 0},
		{`{"alg":"HS256","typ":"refresh+jwt"}`, seedClaims, 0},
		{`{"alg":"HS256","typ":"application/Refresh+JWT"}`, seedClaims, 0},
		{`{"alg":"HS256","jku":"https://evil.example/jwks","x5u":"https://evil.example/x5","jwk":{"kty":"oct","k":"AA"}}`, seedClaims, 0},
		{`{"alg":"HS256","alg":"none"}`, seedClaims, 0},
		{`{"\u0061lg":"HS256"}`, seedClaims, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":"1750000600"}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1749999000}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1749999975}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1749999965}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600,"nbf":1750000031}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600,"nbf":1750001000}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600,"iat":1750000029.9}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600.5,"nbf":-1e3}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1e300}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":99999999999999999999}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice"}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":["x","web"],"exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":["web",1],"exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":["https://issuer.example"],"aud":"api","exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":"api","exp":1750009000}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":"apix","exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":["ap","pi"],"exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example.evil","aud":"api","exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"iss":"https://issuer.example","aud":"api","exp":1750003630}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600,"exp":1750000600}`, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600} `, 0},
		{`{"alg":"HS256"}`, `{"sub":"alice","exp":1750000600}x`, 0},
		{`{"alg":"HS256"}`, "{\"sub\":\"\xff\",\"exp\":1750000600}", 0},
		{`{"alg":"HS256"}`, `[]`, 0},
	} {
		f.Add([]byte(seed.header), []byte(seed.claims), seed.how)
	}
	f.Fuzz(func(t *testing.T, header, claims []byte, how byte) {
		raw := env.sign(header, claims, how)
		for _, g := range env.guards {
			id, err := g.h.verify(raw)
			if err == nil {
				g.checkAccepted(t, raw, id)
				continue
			}
			if !isFixedFailure(err) {
				t.Fatalf("%s: verify = %v, not a fixed failure", g.name, err)
			}
			if g.jwtAccepts(raw) {
				switch err {
				case errMalformed, errHeader, errTokenType, errUnknownKey, errAlgorithm, errClaimType, errLifetime:
				default:
					t.Fatalf("%s refused with %v a token golang-jwt accepts: header %q claims %q how %d", g.name, err, header, claims, how)
				}
			}
		}
	})
}

// FuzzParseToken builds a token of fuzzed header, claims and signature
// bytes and holds parseToken to encoding/json's reading of them: it
// succeeds for well-formed small objects with a string kid, and what it
// reads of alg, kid, typ, crit, the time claims, iss, aud, sub, jti and
// sid is what encoding/json finds there.
func FuzzParseToken(f *testing.F) {
	for _, seed := range [][3]string{
		{`{"alg":"HS256","typ":"JWT","kid":"k1"}`, seedClaims, "sig"},
		{`{"alg":"HS256","typ":"application/refresh+jwt"}`, `{"exp":-0.5,"nbf":1e3,"iat":"1","sid":"s"}`, "x"},
		{`{"alg":1,"kid":null}`, `{}`, "x"},
		{`{"alg":"ES256","crit":["b64"],"b64":false}`, `{"exp":1750000600.999,"aud":["a",1],"sub":7}`, "x"},
		{`{"k\u0069d":"a\"b"}`, `{"e\u0078p":123456789012345678,"iss":null}`, "x"},
		{`{}`, `{"exp":9223372036854775807,"nbf":-9223372036854775808,"iat":1E400}`, "x"},
		{`{}`, `{"exp":4611686018427387904,"nbf":4611686018427387903.5}`, "x"},
		{`{"a":1,"a":2}`, `{}`, "x"},
		{`{}`, `{"a":[[[[1]]]]} `, "x"},
		{`{}`, `{}`, ""},
		{` {"alg" : "HS256" } `, "\t{ \"sub\" : \"a\" }\n", "x"},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]), []byte(seed[2]))
	}
	f.Fuzz(func(t *testing.T, header, claims, sig []byte) {
		raw := b64.EncodeToString(header) + "." + b64.EncodeToString(claims) + "." + b64.EncodeToString(sig)
		if _, _, err := splitCompact(raw); err != nil {
			if len(header) > 0 && len(claims) > 0 && len(sig) > 0 && len(raw) <= maxTokenBytes {
				t.Fatalf("splitCompact refused a well-formed token %q", raw)
			}
			return
		}
		tok, err := parseToken(raw)
		hdr, hdrOK := smallObject(header)
		cl, clOK := smallObject(claims)
		kid, hasKid := hdr["kid"]
		if err != nil {
			if err != errMalformed {
				t.Fatalf("parseToken: %v, not errMalformed", err)
			}
			if hdrOK && clOK && (!hasKid || kid[0] == '"') {
				t.Fatalf("parseToken refused header %q claims %q", header, claims)
			}
			return
		}
		if !json.Valid(header) || !json.Valid(claims) {
			t.Fatalf("parseToken accepted invalid JSON: header %q claims %q", header, claims)
		}
		if hdr == nil {
			hdr = mustRawObject(t, header)
		}
		if cl == nil {
			cl = mustRawObject(t, claims)
		}
		if !bytes.Equal(tok.payload, claims) || !bytes.Equal(tok.signature, sig) ||
			string(tok.signingInput) != raw[:strings.LastIndexByte(raw, '.')] {
			t.Fatalf("parts read wrong: %q", raw)
		}
		if want := rawString(hdr["alg"]); tok.alg != want {
			t.Fatalf("alg %q, want %q (header %q)", tok.alg, want, header)
		}
		if tok.hasKid != hasKid || tok.kid != rawString(kid) || (hasKid && kid[0] != '"') {
			t.Fatalf("kid %q (%v), header %q", tok.kid, tok.hasKid, header)
		}
		typ := rawString(hdr["typ"])
		if wantRefresh := strings.EqualFold(typ, "refresh+jwt") || strings.EqualFold(typ, "application/refresh+jwt"); tok.refresh != wantRefresh {
			t.Fatalf("refresh %v for typ %q", tok.refresh, typ)
		}
		_, crit := hdr["crit"]
		_, b64opt := hdr["b64"]
		if (tok.headerErr != nil) != (crit || b64opt) || (tok.headerErr != nil && tok.headerErr != errHeader) {
			t.Fatalf("header error %v for header %q", tok.headerErr, header)
		}
		for name, got := range map[string]numericDate{"exp": tok.exp, "nbf": tok.nbf, "iat": tok.iat} {
			checkNumericDate(t, name, got, cl[name])
		}
		if !bytes.Equal(tok.iss, cl["iss"]) || !bytes.Equal(tok.aud, cl["aud"]) {
			t.Fatalf("iss %q aud %q, claims %q", tok.iss, tok.aud, claims)
		}
		if tok.sub != rawString(cl["sub"]) || tok.jti != rawString(cl["jti"]) || tok.sid != rawString(cl["sid"]) {
			t.Fatalf("sub %q jti %q sid %q, claims %q", tok.sub, tok.jti, tok.sid, claims)
		}
	})
}

// smallObject decodes a JSON object's members when it is one the scanner
// must accept: UTF-8, a valid object, no name twice, under the depth and
// member limits. ok is false otherwise (members may still be filled).
func smallObject(data []byte) (members map[string]json.RawMessage, ok bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !json.Valid(data) || len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(data, &members) != nil {
		return nil, false
	}
	return members, utf8.Valid(data) && !hasDuplicate(data) && len(members) < maxMembers &&
		bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) < maxJSONDepth
}

func mustRawObject(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		t.Fatalf("accepted what is not a JSON object: %q", data)
	}
	return m
}

// rawString is a raw JSON string's text, or "" for anything else.
func rawString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// checkNumericDate holds a time claim as read to the raw JSON: absent, or
// not a number (bad), or beyond ±2^62 seconds (bad), or else the floor of
// the number of seconds, give or take float64 rounding.
func checkNumericDate(t *testing.T, name string, got numericDate, raw json.RawMessage) {
	t.Helper()
	if raw == nil {
		if got.set || got.bad {
			t.Fatalf("%s absent but read as %+v", name, got)
		}
		return
	}
	if !got.set {
		t.Fatalf("%s %s not read", name, raw)
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		if !got.bad {
			t.Fatalf("%s %s is not a number, read as %v", name, raw, got.t)
		}
		return
	}
	x, _, err := big.ParseFloat(string(raw), 10, 256, big.ToNearestEven)
	if err != nil || x.IsInf() {
		if !got.bad {
			t.Fatalf("%s %s is out of range, read as %v", name, raw, got.t)
		}
		return
	}
	abs, _ := new(big.Float).Abs(x).Float64()
	switch {
	case abs > math.Ldexp(1, 62)*(1+1e-12):
		if !got.bad {
			t.Fatalf("%s %s is beyond 2^62 s, read as %v", name, raw, got.t)
		}
	case abs < math.Ldexp(1, 62)*(1-1e-12):
		if got.bad {
			t.Fatalf("%s %s read as bad", name, raw)
		}
		floor, acc := x.Int(nil)
		if acc == big.Above { // a negative number with a fraction: trunc is above floor
			floor.Sub(floor, big.NewInt(1))
		}
		if diff := math.Abs(float64(got.t.Unix() - floor.Int64())); diff > 1+abs*math.Ldexp(1, -52) {
			t.Fatalf("%s %s read as %d", name, raw, got.t.Unix())
		}
	}
}

// FuzzExtract builds a request from fuzzed Authorization, Cookie, X-Token
// and query values (lines are separate header values) and holds extract
// to the spec's token sources, written out independently: the first
// source present wins, Bearer matched case-insensitively, values trimmed,
// empty ones absent, two different values refused.
func FuzzExtract(f *testing.F) {
	handlers := []*Handler{
		mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n}"),
		mustProvision(f, "jwt_auth {\n secret "+testSecret+"\n from query token\n from header X-Token\n from cookie sess\n from header authorization\n}"),
	}
	for _, seed := range [][4]string{
		{"Bearer abc", "", "", ""},
		{"bEaReR  abc ", "access_token=c", "", ""},
		{"Basic dXNlcjpwYXNz", "access_token=c", "", ""},
		{"Bearer ", "access_token=", "", ""},
		{"Bearer a\nBearer b", "", "", ""},
		{"Bearer a\nbearer a", "", "", ""},
		{"Bearer\tabc", "", "", ""},
		{"", "access_token=a; access_token=a", "", ""},
		{"", "access_token=a; access_token=b", "", ""},
		{"", "access_token=a\naccess_token=b", "", ""},
		{"", `access_token="q"; sess=s`, "token=t&token=t", "x"},
		{"", "sess=a; sess=b", "", " x \n x"},
		{"", "", "token=a&token=b", ""},
		{"", "", "token=%20&token=", "y"},
		{"", "", "token=a;b", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, auth, cookie, query, xtoken string) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.URL.RawQuery = query
		for name, lines := range map[string]string{"Authorization": auth, "Cookie": cookie, "X-Token": xtoken} {
			if lines == "" {
				continue
			}
			for v := range strings.SplitSeq(lines, "\n") {
				r.Header.Add(name, v)
			}
		}
		for _, h := range handlers {
			tok, fromCookie, err := h.extract(r)
			wantTok, wantCookie, wantErr := extractOracle(h.tokenFrom, r)
			if tok != wantTok || fromCookie != wantCookie || err != wantErr {
				t.Fatalf("extract from %v = %q, %v, %v; want %q, %v, %v", h.tokenFrom, tok, fromCookie, err, wantTok, wantCookie, wantErr)
			}
			if err == nil && (tok == "" || strings.TrimSpace(tok) != tok) {
				t.Fatalf("extract gave %q", tok)
			}
		}
	})
}

// extractOracle is the spec's reading of the token sources.
func extractOracle(sources []TokenSource, r *http.Request) (string, bool, error) {
	for _, s := range sources {
		var candidates []string
		switch s.Source {
		case "header":
			for _, v := range r.Header[http.CanonicalHeaderKey(s.Name)] {
				if strings.EqualFold(s.Name, "Authorization") {
					v = strings.TrimSpace(v)
					if len(v) < len("Bearer ") || !strings.EqualFold(v[:len("Bearer ")], "Bearer ") {
						continue
					}
					v = v[len("Bearer "):]
				}
				candidates = append(candidates, v)
			}
		case "cookie":
			for _, c := range r.Cookies() {
				if c.Name == s.Name {
					candidates = append(candidates, c.Value)
				}
			}
		case "query":
			q, _ := url.ParseQuery(r.URL.RawQuery)
			candidates = q[s.Name]
		}
		distinct := map[string]bool{}
		for _, c := range candidates {
			if c = strings.TrimSpace(c); c != "" {
				distinct[c] = true
			}
		}
		switch len(distinct) {
		case 0:
			continue
		case 1:
			for tok := range distinct {
				return tok, s.Source == "cookie", nil
			}
		}
		return "", s.Source == "cookie", errMalformed
	}
	return "", false, errMissing
}

// FuzzUnmarshalCaddyfile parses fuzzed jwt_auth blocks. It never panics;
// an error names the file and line; an accepted block (the parser checks
// syntax only) either passes Validate or is refused by it with the name of
// a subdirective, marshals to JSON that reads back to the same JSON, and parsing the text
// again gives the same JSON. Texts the Caddyfile lexer refuses, and
// empty ones, are skipped: NewTestDispenser would log.Fatal on the
// former, so the target makes its dispenser from caddyfile.Tokenize.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"jwt_auth {\n secret " + testSecret + "\n}",
		"jwt_auth {\n secret {env.JWT_SECRET}\n key /etc/jwt/a.pem a\n key /etc/jwt/b.json\n algorithms ES256 HS256\n" +
			" issuer https://a.example https://b.example\n audience api\n leeway 1m\n max_lifetime 24h\n allow_missing_exp\n" +
			" require realm_access.roles admin\n require scope read write\n require sub\n}",
		"jwt_auth {\n jwks https://idp.example/jwks\n oidc http://127.0.0.1:9000/\n from header X-Token\n from cookie sess\n from query t\n" +
			" optional\n redirect /login\n except /public/* /health\n claim_header sub X-User\n claim_header email X_Email\n}",
		"jwt_auth {\n key auto EdDSA {\n rotate 720h\n }\n login /auth/login\n refresh /auth/refresh\n logout /auth/logout\n" +
			" jwks_endpoint /.well-known/jwks.json\n user alice $2a$14$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n" +
			" users_file /etc/jwt/users.json\n access_ttl 5m\n refresh_ttl 0\n cookie sid {\n domain example.com\n path /app\n same_site strict\n insecure\n }\n" +
			" login_limit 3 30s\n login_page /etc/jwt/login.html\n trusted_origins https://app.example\n}",
		"jwt_auth {\n key auto\n cookie {\n }\n}",
		"jwt_auth arg {\n}",
		"jwt_auth {\n secret a\n secret b\n}",
		"jwt_auth {\n require \"\"\n}",
		"jwt_auth {\n redirect https://login.example/?next=1\n}",
		"jwt_auth {\n claim_header sub \"X User\"\n}",
		"jwt_auth {\n leeway 1d\n}",
		"jwt_auth {\n secret `a b`\n issuer <<EOF\n x\n EOF\n}",
		"jwt_auth {\n cookie {\n same_site none\n } \n cookie x {\n }\n}",
		"jwt_auth",
		"jwt_auth {\n {\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		parse := func() (*Handler, []byte, error) {
			tokens, err := caddyfile.Tokenize([]byte(text), "Testfile")
			if err != nil || len(tokens) == 0 { // Caddy calls it with at least the directive's token
				return nil, nil, errLexer
			}
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
				return nil, nil, err
			}
			js, err := json.Marshal(h)
			if err != nil {
				t.Fatalf("accepted %q, but it does not marshal: %v", text, err)
			}
			return h, js, nil
		}
		h, js, err := parse()
		if err == errLexer {
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("%q: the error does not name the file and line: %v", text, err)
			}
			return
		}
		if err := h.Validate(); err != nil {
			head, _, _ := strings.Cut(err.Error(), ":")
			if !validateNames[head] {
				t.Fatalf("Validate refuses %q without naming a subdirective: %v", text, err)
			}
		}
		var back Handler
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("the JSON of %q does not read back: %v", text, err)
		}
		if again, _ := json.Marshal(&back); !bytes.Equal(again, js) {
			t.Fatalf("the JSON of %q changes when read back:\n%s\n%s", text, js, again)
		}
		if _, js2, err := parse(); err != nil || !bytes.Equal(js, js2) {
			t.Fatalf("a second parse of %q differs: %v\n%s\n%s", text, err, js, js2)
		}
	})
}

// validateNames are the subdirectives Validate's errors start with.
var validateNames = map[string]bool{
	"key": true, "key auto": true, "jwks": true, "oidc": true, "leeway": true, "max_lifetime": true,
	"require": true, "from": true, "redirect": true, "claim_header": true, "login": true, "refresh": true,
	"logout": true, "jwks_endpoint": true, "access_ttl": true, "refresh_ttl": true, "user": true,
	"cookie": true, "login_limit": true, "trusted_origins": true,
}

// errLexer marks a text the Caddyfile lexer refuses, or an empty one.
var errLexer = errors.New("lexer error")

// FuzzClaims decodes fuzzed JSON claims as the guard does and holds the
// claim functions to an oracle of the spec's Claim rules written over the
// raw JSON: lookupClaim (a whole top-level name first, else a dotted path
// through objects), scalarText, claimText (strings as they are, numbers
// by their JSON text, arrays joined with commas, objects as JSON),
// ClaimRule.holds (any element of an array; scope and scp strings split
// on spaces; no values: present and not null), the placeholder of a
// top-level claim, and the claim header value, which is never written
// with a control character.
func FuzzClaims(f *testing.F) {
	claims := `{"sub":"alice","role":"admin","groups":["dev","ops",7,true,{"x":1},null,[1]],"scope":"read:a  write:b",` +
		`"scp":["read:a"],"level":3,"big":12345678901234567890,"ratio":1.50,"e":-1E+2,"active":true,"nothing":null,` +
		`"realm_access":{"roles":["user","auditor"],"deep":{"flag":false}},"https://example.com/roles":["editor"],` +
		`"a.b":"top","a":{"b":"nested"},"nl":"x\ny","tab":"x\ty","del":"x\u007fy","arr":["ok","x\r"],"obj":{"k":"\n"},"u":"\u00e9\u2028<>&"}`
	for _, seed := range [][3]string{
		{claims, "role", "admin"},
		{claims, "groups", "7\ntrue\n{\"x\":1}"},
		{claims, "scope", "write:b"},
		{claims, "scope", "read:a  write:b"},
		{claims, "scp", "read:a"},
		{claims, "level", "3.0"},
		{claims, "big", "12345678901234567890"},
		{claims, "ratio", "1.50"},
		{claims, "e", "-1E+2"},
		{claims, "active", "true"},
		{claims, "nothing", ""},
		{claims, "realm_access.roles", "auditor"},
		{claims, "realm_access.deep.flag", "false"},
		{claims, "realm_access", ""},
		{claims, "realm_access", `{"deep":{"flag":false},"roles":["user","auditor"]}`},
		{claims, "role.sub", "x"},
		{claims, "https://example.com/roles", "editor"},
		{claims, "a.b", "nested"},
		{claims, "nl", ""},
		{claims, "tab", "x\ty"},
		{claims, "del", ""},
		{claims, "arr", ""},
		{claims, "obj", ""},
		{claims, "u", ""},
		{claims, "missing", ""},
		{claims, "", ""},
		{`{"scope":"a\tb\u00a0c d"}`, "scope", "b"},
		{`{"":{"":1}}`, ".", "1"},
	} {
		f.Add([]byte(seed[0]), seed[1], seed[2])
	}
	h := &Handler{logger: zap.NewNop()}
	f.Fuzz(func(t *testing.T, data []byte, claim, values string) {
		if !json.Valid(data) || bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
			return
		}
		if _, err := decodeStrict(data); err != nil {
			return // a name given twice: the guard refuses such a token before any rule reads it
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var claims map[string]any
		if err := dec.Decode(&claims); err != nil {
			t.Fatal(err)
		}
		raw, found := rawLookup(data, claim)

		v, ok := lookupClaim(claims, claim)
		if ok != found || (ok && !reflect.DeepEqual(v, decodeNumbers(t, raw))) {
			t.Fatalf("lookupClaim(%q) = %#v, %v; the JSON has %s, %v", claim, v, ok, raw, found)
		}
		if !found {
			raw = json.RawMessage("null")
		}
		if s, scalar := scalarText(v); s != rawScalar(raw) || scalar != isRawScalar(raw) {
			t.Fatalf("scalarText(%s) = %q, %v", raw, s, scalar)
		}
		text := claimText(v)
		if want := rawClaimText(t, raw); text != want {
			t.Fatalf("claimText(%s) = %q, want %q", raw, text, want)
		}

		var vals []string
		if values != "" {
			vals = strings.Split(values, "\n")
		}
		rule := ClaimRule{Claim: claim, Values: vals}
		if got, want := rule.holds(claims), holdsOracle(raw, claim, vals); got != want {
			t.Fatalf("require %q %q on %s: %v, want %v", claim, vals, raw, got, want)
		}

		id := &identity{payload: data}
		header := h.claimHeaderValue(id, ClaimHeader{Claim: claim, Header: "X-Claim"})
		if want := text; header != want && !(header == "" && controlOracle(text)) {
			t.Fatalf("claim header from %s = %q, want %q or nothing", raw, header, want)
		}
		if controlOracle(header) {
			t.Fatalf("claim header value with a control character: %q", header)
		}
		for _, s := range []string{claim, values, text} {
			if hasControl(s) != controlOracle(s) {
				t.Fatalf("hasControl(%q) = %v", s, hasControl(s))
			}
		}
		if topRaw, top := claims[claim]; top && claim != "id" {
			if p, ok := id.placeholder("http.auth.user." + claim); !ok || p != claimText(topRaw) {
				t.Fatalf("placeholder %q = %v, %v", claim, p, ok)
			}
		}
	})
}

// rawLookup finds a claim in the raw JSON: the whole name at the top
// level, else each dot-separated part in turn through objects.
func rawLookup(data []byte, name string) (json.RawMessage, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil, false
	}
	if v, ok := top[name]; ok {
		return v, true
	}
	cur := json.RawMessage(bytes.TrimSpace(data))
	for part := range strings.SplitSeq(name, ".") {
		var obj map[string]json.RawMessage
		if len(cur) == 0 || cur[0] != '{' || json.Unmarshal(cur, &obj) != nil {
			return nil, false
		}
		next, ok := obj[part]
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func decodeNumbers(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return v
}

// isRawScalar tells whether a raw JSON value is a string, number or boolean.
func isRawScalar(raw json.RawMessage) bool {
	return raw[0] != '{' && raw[0] != '[' && raw[0] != 'n'
}

// rawScalar is a scalar's text: a string's value, else its JSON text.
func rawScalar(raw json.RawMessage) string {
	switch {
	case !isRawScalar(raw):
		return ""
	case raw[0] == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	return string(raw)
}

// rawClaimText is what the spec says a claim reads as.
func rawClaimText(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	switch raw[0] {
	case '[':
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		parts := make([]string, len(elems))
		for i, e := range elems {
			parts[i] = rawClaimText(t, e)
		}
		return strings.Join(parts, ",")
	case '{':
		b, err := json.Marshal(decodeNumbers(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return rawScalar(raw)
}

// holdsOracle is the spec's Claim rules over the raw JSON.
func holdsOracle(raw json.RawMessage, claim string, values []string) bool {
	if raw[0] == 'n' {
		return false
	}
	if len(values) == 0 {
		return true
	}
	var texts []string
	switch {
	case raw[0] == '[':
		var elems []json.RawMessage
		_ = json.Unmarshal(raw, &elems)
		for _, e := range elems {
			if isRawScalar(e) {
				texts = append(texts, rawScalar(e))
			}
		}
	case raw[0] == '"' && (claim == "scope" || claim == "scp"):
		for part := range strings.SplitSeq(rawScalar(raw), " ") {
			if part != "" {
				texts = append(texts, part)
			}
		}
	case isRawScalar(raw):
		texts = []string{rawScalar(raw)}
	}
	return slices.ContainsFunc(texts, func(s string) bool { return slices.Contains(values, s) })
}

// controlOracle tells whether s holds an ASCII control character (C0 or
// DEL), which must never reach a header.
func controlOracle(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// FuzzSafeReturn holds the login return target: the result is the input
// or "/"; what is kept starts with one slash, has no backslash, no
// control character, no scheme, no "//" or dot segment in its path, and
// neither does it once percent-decoded;
// a browser resolving it, or the Location header http.Redirect makes of
// it, against https://site.example/login stays on site.example; and a
// plain path of safe characters is kept.
func FuzzSafeReturn(f *testing.F) {
	for _, seed := range []string{
		"/docs?page=2#top", "/", "", "docs", "//evil.example", "///evil.example", "/\\evil.example", "/x\\y",
		"https://evil.example/", "javascript:alert(1)", "/%2F%2Fevil.example", "/%2f/evil.example", "/%5Cevil.example",
		"/\t/evil.example", "/\r\nSet-Cookie: x=y", "/%0d%0aSet-Cookie:%20x", "/ok/%2e%2e/fine", "/%", "/a:b",
		"/?next=http://evil.example", "/..//evil.example", "/./%2F/x", " /x", "/x ", "/\x7f", "/\u2028",
		"/%E2%80%A8", "/a/../../evil", "/@evil.example", "/%09/evil.example",
	} {
		f.Add(seed)
	}
	base, _ := url.Parse("https://site.example/login")
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturn(s)
		if got != "/" && got != s {
			t.Fatalf("safeReturn(%q) = %q: neither the input nor /", s, got)
		}
		if got == "/" {
			if plainPath(s) && s != "/" {
				t.Fatalf("safeReturn refused the plain path %q", s)
			}
			return
		}
		forms := []string{got}
		if unescaped, err := url.PathUnescape(got); err == nil {
			forms = append(forms, unescaped)
		}
		for _, form := range forms {
			if !strings.HasPrefix(form, "/") || foldablePath(form) || strings.Contains(form, `\`) || controlOracle(form) {
				t.Fatalf("safeReturn kept %q (as %q)", s, form)
			}
			if u, err := url.Parse(form); err == nil && (u.Scheme != "" || u.Host != "" || u.User != nil) {
				t.Fatalf("safeReturn kept %q, which has a scheme or host", s)
			}
		}
		if u, err := browserResolve(base, got); err != nil || u.Host != "site.example" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("safeReturn kept %q, which a browser resolves to %v (%v)", s, u, err)
		}
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest(http.MethodPost, "https://site.example/login", nil), got, http.StatusSeeOther)
		loc := w.Header().Get("Location")
		if u, err := browserResolve(base, loc); err != nil || u.Host != "site.example" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("safeReturn kept %q; redirected to %q, which a browser resolves to %v (%v)", s, loc, u, err)
		}
	})
}

// browserResolve resolves a reference as a browser does for an https base
// (the WHATWG URL parser): leading and trailing C0 controls and spaces are
// dropped, tabs and newlines removed anywhere, and a backslash is a slash.
func browserResolve(base *url.URL, ref string) (*url.URL, error) {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= ' ' })
	ref = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, ref)
	return base.Parse(ref)
}

// plainPath is a path of unreserved characters and slashes, with a query
// or fragment of the same, and no "//" or dot segment: always a safe
// return target.
func plainPath(s string) bool {
	return strings.HasPrefix(s, "/") && !foldablePath(s) &&
		strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/?=&#") == ""
}

// foldablePath tells whether the path part of s (before any ? or #) holds
// "//" or a "." or ".." segment, which a browser may fold into a leading
// "//".
func foldablePath(s string) bool {
	path := s
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		path = s[:i]
	}
	segs := strings.Split(path, "/")
	return strings.Contains(path, "//") || slices.Contains(segs, ".") || slices.Contains(segs, "..")
}

// FuzzParseUsersFile parses fuzzed users files, JSON or htpasswd. It never
// panics; an error returns no users at all; every user accepted has a
// bcrypt or argon2id hash that decodes; and the users are those of the
// file: for JSON, as encoding/json reads a valid JSON file; for htpasswd,
// the name:hash of each line that is not blank or a # comment.
func FuzzParseUsersFile(f *testing.F) {
	bcryptHash := string(caddyauth.BcryptHash{}.FakeHash())
	argonHash := string(caddyauth.Argon2idHash{}.FakeHash())
	for _, seed := range []string{
		`{"alice": {"password": "` + bcryptHash + `", "claims": {"role": "admin", "n": 7}}, "carol": {"password": "` + argonHash + `", "disabled": true}}`,
		"# comment\n\nbob:" + bcryptHash + "\r\n  dave:" + strings.Replace(bcryptHash, "$2a$", "$2y$", 1) + "\neve:" + argonHash,
		"bob:" + strings.Replace(bcryptHash, "$2a$", "$2b$", 1) + "\nbob:" + bcryptHash,
		`{"alice": {"password": "plaintext"}}`,
		`{"alice": `,
		`{"alice": {"password": "` + bcryptHash + `"}} {"bob": {}}`,
		`{"alice": null}`,
		`{"": {"password": "` + bcryptHash + `", "name": "x", "PASSWORD": "` + argonHash + `"}}`,
		"bob\n",
		":" + bcryptHash,
		"bob:$2a$10$short\n",
		"bob:{SHA}abc=\n",
		"bob:" + bcryptHash + "\nbad\n",
		"eve:$argon2id$v=19$m=bad\n",
		"eve:$argon2id$v=19$m=8192,t=1,p=1$mMh5Mf0AwqPy+T5NWss97g$Cs+pgAhf0awK9Z3kmI4p4v5c+DKDEERzm0KhMeQ52bU",
		"",
		"  {",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := parseUsersFile(data)
		if err != nil {
			if users != nil {
				t.Fatalf("a parse error (%v) returned users: %v", err, users)
			}
			return
		}
		for name, a := range users {
			hash := string(a.hash)
			isBcrypt := strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
			switch {
			case a.comparer == nil || a.bcrypt != isBcrypt:
				t.Fatalf("user %q: comparer %T, bcrypt %v, for %q", name, a.comparer, a.bcrypt, hash)
			case isBcrypt:
				if _, err := bcrypt.Cost(a.hash); err != nil {
					t.Fatalf("user %q: accepted bcrypt hash %q: %v", name, hash, err)
				}
			case strings.HasPrefix(hash, "$argon2id$"):
				if _, _, err := caddyauth.DecodeHash(a.hash); err != nil {
					t.Fatalf("user %q: accepted argon2id hash %q: %v", name, hash, err)
				}
			default:
				t.Fatalf("user %q: accepted hash %q, neither bcrypt nor argon2id", name, hash)
			}
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
			checkJSONUsers(t, trimmed, users)
		} else {
			checkHtpasswdUsers(t, data, users)
		}
	})
}

func checkJSONUsers(t *testing.T, data []byte, users map[string]*account) {
	t.Helper()
	if !json.Valid(data) {
		t.Fatalf("accepted a users file that is not valid JSON: %q", data)
	}
	var entries map[string]struct {
		Password string
		Claims   map[string]any
		Disabled bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&entries); err != nil {
		t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
	}
	if len(entries) != len(users) {
		t.Fatalf("%d users from %d entries: %q", len(users), len(entries), data)
	}
	for name, e := range entries {
		a := users[name]
		if a == nil || string(a.hash) != e.Password || a.disabled != e.Disabled || !reflect.DeepEqual(a.claims, e.Claims) {
			t.Fatalf("user %q read as %+v, the file says %+v", name, a, e)
		}
	}
}

func checkHtpasswdUsers(t *testing.T, data []byte, users map[string]*account) {
	t.Helper()
	want := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			t.Fatalf("accepted a line without name:hash: %q", line)
		}
		want[line[:i]] = line[i+1:]
	}
	if len(want) != len(users) {
		t.Fatalf("%d users from %d names: %q", len(users), len(want), data)
	}
	for name, hash := range want {
		if a := users[name]; a == nil || string(a.hash) != hash {
			t.Fatalf("user %q read as %v, the file says %q", name, a, hash)
		}
	}
}
