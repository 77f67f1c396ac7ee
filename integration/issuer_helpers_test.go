package integration

// Helpers for the issuer's black-box tests (issuer_*_test.go: a real
// Caddy in-process loaded with a Caddyfile per test, each with a
// file_system storage of its own, and HTTP over loopback; the restart
// test runs the built binary twice): passwords and a standard jwt_auth
// block, login and token helpers, users files, the
// issuer's JWKs, and assertions on the issuer's response shapes. The
// Caddyfiles, requests and generic assertions are in harness_test.go.
// Issuer helpers start with "iss".

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// issArgon2Password and issArgon2Hash: a hash made once with
// `go run ./cmd/caddy hash-password --algorithm argon2id --plaintext argon-pass-1`
// (caddyauth.Argon2idHash{}.Hash has zero parameters outside Caddy's
// provisioning and cannot be used in a test).
const (
	issArgon2Password = "argon-pass-1"
	issArgon2Hash     = "$argon2id$v=19$m=47104,t=1,p=1$AV1SAXxzolyqbQ4KfQQ1dw$tKw9AvjlnYxQhO9MwANvShd+4iokznQhb6UaWrCVCHs"
)

// ---------------------------------------------------------------------------
// cookies

// issSetCookie is the one Set-Cookie line of the cookie name, or "" when
// none was set; two lines for one name fail the test.
func issSetCookie(t *testing.T, label string, r response, name string) string {
	t.Helper()
	var found []string
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			found = append(found, line)
		}
	}
	switch len(found) {
	case 0:
		return ""
	case 1:
		return found[0]
	}
	t.Errorf("%s: %d Set-Cookie lines for %s: %q", label, len(found), name, found)
	return found[0]
}

// ---------------------------------------------------------------------------
// tokens and users

// issTokens is the JSON answer of a login or refresh.
type issTokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

// issLoginResp posts a JSON login.
func issLoginResp(t *testing.T, path, user, password string, opts ...reqOpt) response {
	t.Helper()
	opts = append([]reqOpt{jsonBody(map[string]string{"username": user, "password": password})}, opts...)
	return doRequest(t, http.MethodPost, path, opts...)
}

// issLogin logs in with JSON and returns the tokens; anything but 200 with
// an access token stops the test.
func issLogin(t *testing.T, path, user, password string, opts ...reqOpt) issTokens {
	t.Helper()
	r := issLoginResp(t, path, user, password, opts...)
	if r.Status != http.StatusOK {
		t.Fatalf("login as %s at %s: %s", user, path, r)
	}
	return issDecodeTokens(t, "login as "+user, r)
}

func issDecodeTokens(t *testing.T, label string, r response) issTokens {
	t.Helper()
	var tok issTokens
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("%s: no access token in %s (%v)", label, r, err)
	}
	return tok
}

// issRefreshJSON posts {"refresh_token": tok} to path.
func issRefreshJSON(t *testing.T, path, tok string, opts ...reqOpt) response {
	t.Helper()
	opts = append([]reqOpt{jsonBody(map[string]string{"refresh_token": tok})}, opts...)
	return doRequest(t, http.MethodPost, path, opts...)
}

// issParts decodes a compact JWS without verifying it; numbers are kept as
// json.Number.
func issParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: %d parts", shorten(tok, 40), len(parts))
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("token part %q: %v", shorten(s, 40), err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("token part %s: %v", b, err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

// issInt reads an integer claim; a missing or non-integer one fails.
func issInt(t *testing.T, label string, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Errorf("%s: claim %s = %#v, want a number", label, name, claims[name])
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		t.Errorf("%s: claim %s = %s, want an integer", label, name, n)
	}
	return i
}

// issWrite writes a file atomically (a temporary file renamed over it), so
// that a poller never sees it half written.
func issWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// issJSONFile marshals v into a file in dir.
func issJSONFile(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	issWrite(t, p, b)
	return p
}

// issStorageKey reads the key auto PEM from a file_system storage folder.
func issStorageKey(t *testing.T, storage, alg string) crypto.Signer {
	t.Helper()
	p := filepath.Join(storage, "caddyjwt", "keys", "auto-"+strings.ToLower(alg)+".pem")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("key auto %s not in the storage: %v", alg, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", p)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		t.Fatalf("%s: %T is not a signer", p, k)
	}
	return s
}

// issJWK is one key of a JWK set.
type issJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	K   string `json:"k"`
}

// issPublicKey turns a JWK into a Go public key (EC or OKP).
func issPublicKey(t *testing.T, k issJWK) any {
	t.Helper()
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWK %s: %v", k.Kid, err)
		}
		return b
	}
	switch {
	case k.Kty == "EC" && k.Crv == "P-256":
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(dec(k.X)), Y: new(big.Int).SetBytes(dec(k.Y))}
	case k.Kty == "EC" && k.Crv == "P-384":
		return &ecdsa.PublicKey{Curve: elliptic.P384(), X: new(big.Int).SetBytes(dec(k.X)), Y: new(big.Int).SetBytes(dec(k.Y))}
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		return ed25519.PublicKey(dec(k.X))
	}
	t.Fatalf("JWK %+v: unexpected key type", k)
	return nil
}

// issThumbprintEC is the RFC 7638 SHA-256 thumbprint of an EC JWK.
func issThumbprintEC(k issJWK) string {
	sum := sha256.Sum256([]byte(`{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// issVerifyWith checks a token's signature with a public key.
func issVerifyWith(t *testing.T, label, tok string, pub any) {
	t.Helper()
	_, err := jwt.NewParser(jwt.WithoutClaimsValidation()).Parse(tok, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		t.Errorf("%s: token does not verify with the published key: %v", label, err)
	}
}

// ---------------------------------------------------------------------------
// assertions

// issWantRevoked asserts the guard's refusal of a revoked token.
func issWantRevoked(t *testing.T, label string, r response) {
	t.Helper()
	want := `Bearer realm="localhost", error="invalid_token", error_description="token revoked"`
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want || r.Body != "revoked" {
		t.Errorf("%s: got %s, want 401 %q with reason \"revoked\"", label, r, want)
	}
}

// issWantJSONError asserts a JSON error body {"error": code} with status.
func issWantJSONError(t *testing.T, label string, r response, status int, code string) {
	t.Helper()
	var body map[string]any
	err := json.Unmarshal([]byte(r.Body), &body)
	if r.Status != status || err != nil || len(body) != 1 || body["error"] != code {
		t.Errorf("%s: got %s, want %d {\"error\":%q}", label, r, status, code)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", label, ct)
	}
}

// issWantNoTokenCookies asserts that a response set no token cookie.
func issWantNoTokenCookies(t *testing.T, label string, r response) {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		if name, _, _ := strings.Cut(line, "="); strings.HasPrefix(name, "access_token") {
			t.Errorf("%s: unexpected Set-Cookie %q", label, shorten(line, 40))
		}
	}
}

// issWantRetryAfter asserts a 429 whose Retry-After is whole seconds in
// [1, max].
func issWantRetryAfter(t *testing.T, label string, r response, max int) int {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Errorf("%s: got %s, want 429", label, r)
		return 0
	}
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Errorf("%s: Retry-After %q, want whole seconds in [1, %d]", label, r.Header.Get("Retry-After"), max)
	}
	issWantNoTokenCookies(t, label, r)
	return n
}

const (
	issAlicePW = "alice-correct-horse"
	issBobPW   = "bob-battery-staple"
)

// issStdLines is a jwt_auth block with every endpoint.
func issStdLines(extra ...string) []string {
	return append([]string{
		"key auto",
		"login /auth/login",
		"refresh /auth/refresh",
		"logout /auth/logout",
		"jwks_endpoint /.well-known/jwks.json",
	}, extra...)
}
