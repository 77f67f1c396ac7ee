package caddyjwt

// Fuzz targets for what reads untrusted or hand-written input: tokens and
// where they are found, the Caddyfile, claim rules, the login return URL
// and the users file. `go test -run '^$' -fuzz '^FuzzX$' .` runs one long;
// a failing input lands in testdata/fuzz/FuzzX and stays as a seed.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/golang-jwt/jwt/v5"
)

// b64 encodes the parts of the tokens the targets make.
var b64 = base64.RawURLEncoding

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
		"a." + strings.Repeat("b", jws.MaxTokenBytes-4) + ".c",
		"a." + strings.Repeat("b", jws.MaxTokenBytes-3) + ".c",
		"",
		"...",
		"eyJhbGciOiJub25lIn0.e30.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		compact := compactOracle(raw)
		if _, _, err := jws.SplitCompact(raw); (err == nil) != compact || (err != nil && err != jws.ErrMalformed) {
			t.Fatalf("SplitCompact(%q) = %v, the spec says compact=%v", raw, err, compact)
		}
		if compact {
			if _, err := jws.Parse(raw); err != nil && err != jws.ErrMalformed {
				t.Fatalf("Parse(%q): %v, not a fixed failure", raw, err)
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
