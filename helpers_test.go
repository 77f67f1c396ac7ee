package caddyjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes: HS256 only

// Keys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() map[string]any {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]any{"rsa": rsaKey, "p256": p256, "p384": p384, "p521": p521, "ed25519": edKey}
})

// writePEM writes a PEM block of the given type to a file in dir.
func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePKCS8 writes a private key as PKCS#8 PEM.
func writePKCS8(t testing.TB, dir, name string, priv any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

// writePKIX writes a public key as PKIX PEM.
func writePKIX(t testing.TB, dir, name string, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PUBLIC KEY", der)
}

// mint signs claims with alg and key, with extra header fields.
func mint(t testing.TB, alg string, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valid returns claims valid for an hour, issued two hours ago (so that a
// test may move exp into the past without passing iat), with the extra
// claims added.
func valid(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// provision parses a jwt_auth block and provisions the handler on a
// storage folder of its own.
func provision(t testing.TB, block string) (*Handler, error) {
	t.Helper()
	return provisionOn(t, t.TempDir(), block)
}

// provisionOn provisions the handler on a given storage folder, so that
// two handlers can be two instances of one cluster.
func provisionOn(t testing.TB, storage, block string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	block = withTestIssuer(block)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		return nil, err
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.provision(ctx, &certmagic.FileStorage{Path: storage}); err != nil {
		return nil, err
	}
	h.logger = zap.NewNop() // TestLogs looks at what is logged
	h.issuer.logger = h.logger
	return h, h.Validate()
}

// withTestIssuer gives a block that issues tokens, publishes keys or uses
// key auto the issuer it needs when it names none (a Caddyfile site takes
// it from its address; these blocks stand in no site): the host of the
// test requests.
func withTestIssuer(block string) string {
	if strings.Contains(block, "\n issuer ") || !(strings.Contains(block, "\n login ") ||
		strings.Contains(block, "\n jwks_endpoint ") || strings.Contains(block, " auto")) {
		return block
	}
	return strings.Replace(block, "jwt_auth {\n", "jwt_auth {\n issuer http://example.com\n", 1)
}

func mustProvision(t testing.TB, block string) *Handler {
	t.Helper()
	return mustProvisionOn(t, t.TempDir(), block)
}

func mustProvisionOn(t testing.TB, storage, block string) *Handler {
	t.Helper()
	h, err := provisionOn(t, storage, block)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return h
}

// result is what a request through the handler came to.
type result struct {
	status int         // 0 when the next handler ran
	header http.Header // response headers
	next   *http.Request
	repl   *caddy.Replacer
}

// serve runs one request through the handler, with a Caddy replacer in
// its context as Caddy's server sets it up.
func serve(t testing.TB, h *Handler, r *http.Request) result {
	t.Helper()
	return serveWith(t, h, httptest.NewRecorder(), r)
}

func serveWith(t testing.TB, h *Handler, w *httptest.ResponseRecorder, r *http.Request) result {
	t.Helper()
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.OriginalRequestCtxKey, *r.Clone(context.Background()))
	r = r.WithContext(ctx)
	var res result
	err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		res.next = r
		return nil
	}))
	res.header, res.repl = w.Header(), repl
	var he caddyhttp.HandlerError
	switch {
	case errors.As(err, &he):
		res.status = he.StatusCode
	case err != nil:
		t.Fatalf("unexpected error: %v", err)
	case res.next == nil:
		res.status = w.Code
	}
	return res
}

// bearer makes a GET request carrying tok in the Authorization header.
func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/x", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}
