package integration

// Key material, tokens and upstreams for the black-box suites (the
// Caddyfiles, requests and assertions are in harness_test.go): key pairs
// written to files in every format the directive reads, JWKs, token
// minting (through golang-jwt and by hand, for tokens no library would
// produce), an echoing upstream and a hit counter.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// hmac64 is a 64-byte printable HMAC secret: it serves HS256, HS384 and
// HS512.
const hmac64 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"

// ---------------------------------------------------------------------------
// keys

type keySet struct {
	rsa, rsaOther, rsaSmall *rsa.PrivateKey
	ec256, ec384, ec521     *ecdsa.PrivateKey
	ec256b, ec384b, ec521b  *ecdsa.PrivateKey
	ed, edOther             ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	theKeys  keySet
)

// keys returns key pairs generated once per test binary.
func keys(t *testing.T) *keySet {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		theKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		theKeys.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		theKeys.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			must(err)
			return k
		}
		theKeys.ec256, theKeys.ec256b = ec(elliptic.P256()), ec(elliptic.P256())
		theKeys.ec384, theKeys.ec384b = ec(elliptic.P384()), ec(elliptic.P384())
		theKeys.ec521, theKeys.ec521b = ec(elliptic.P521()), ec(elliptic.P521())
		_, theKeys.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
		_, theKeys.edOther, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &theKeys
}

// keyDir returns a fresh directory for key files (or a storage folder, as
// remoteSite uses it). Its path holds no word that a load error is checked
// for (t.TempDir's would hold the test name).
func keyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cjt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTree writes files (slash-separated paths under root, and their
// contents) for a file_server site, making the folders on the way.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs1PrivatePEM(k *rsa.PrivateKey) []byte {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
}

func pkcs1PublicPEM(k *rsa.PublicKey) []byte {
	return pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(k))
}

func pkcs8PEM(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PUBLIC KEY", der)
}

func sec1PEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

// certDER returns a self-signed certificate for the key.
func certDER(t *testing.T, priv crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "caddyjwt test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func certPEM(t *testing.T, priv crypto.Signer) []byte {
	t.Helper()
	return pemBlock("CERTIFICATE", certDER(t, priv))
}

var b64u = base64.RawURLEncoding

// jwk returns the public JWK of a key as a JSON object, with kid and alg
// when given.
func jwk(t *testing.T, pub any, kid, alg string) map[string]any {
	t.Helper()
	m := map[string]any{}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64u.EncodeToString(k.N.Bytes())
		m["e"] = b64u.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		ek, err := k.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		pt := ek.Bytes()[1:] // uncompressed point: 0x04 || X || Y
		m["x"] = b64u.EncodeToString(pt[:len(pt)/2])
		m["y"] = b64u.EncodeToString(pt[len(pt)/2:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64u.EncodeToString(k)
	default:
		t.Fatalf("jwk: unsupported key %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func jsonBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwks returns a JWK set document.
func jwks(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	return jsonBytes(t, map[string]any{"keys": keys})
}

// ---------------------------------------------------------------------------
// tokens

// claims returns valid claims for sub (exp in ten minutes, iat now) with
// the extra claims merged in; a nil extra value deletes the claim.
func claims(sub string, extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// mint signs claims with golang-jwt; hdr adds or overrides header fields.
func mint(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("minting %s token: %v", m.Alg(), err)
	}
	return s
}

// hs is a valid HS256 token for sub under hmac64, with extra claims.
func hs(t *testing.T, sub string, extra map[string]any) string {
	t.Helper()
	return mint(t, jwt.SigningMethodHS256, []byte(hmac64), claims(sub, extra), nil)
}

// rawToken builds a compact JWS from a header and claims, signed by sign
// (nil for an empty signature).
func rawToken(t *testing.T, hdr, c map[string]any, sign func(input string) []byte) string {
	t.Helper()
	return textToken(string(jsonBytes(t, hdr)), string(jsonBytes(t, c)), sign)
}

// textToken builds a compact JWS from header and payload JSON texts,
// taken as they are, signed by sign (nil: an empty signature part).
func textToken(hdr, payload string, sign func(input string) []byte) string {
	input := b64u.EncodeToString([]byte(hdr)) + "." + b64u.EncodeToString([]byte(payload))
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + b64u.EncodeToString(sig)
}

// hmacSigner signs with HMAC-SHA256 under key.
func hmacSigner(key []byte) func(string) []byte { return hmacSignerFor("HS256", key) }

// hmacSignerFor signs with the HMAC of an HS algorithm under key, whatever
// its length.
func hmacSignerFor(alg string, key []byte) func(string) []byte {
	h := sha256.New
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	}
	return func(input string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// ---------------------------------------------------------------------------
// upstream

// echoUpstream is an upstream on loopback that answers with what it got,
// trailers included, and remembers every request target.
type echoUpstream struct {
	addr    string
	mu      sync.Mutex
	targets []string
}

// echoed is what an echoUpstream answers.
type echoed struct {
	Target   string              `json:"target"`
	Headers  map[string][]string `json:"headers"`
	Trailers map[string][]string `json:"trailers"`
	Body     string              `json:"body"`
}

// echoServer starts an echoUpstream.
func echoServer(t *testing.T) *echoUpstream {
	t.Helper()
	u := &echoUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // trailers arrive after the body
		u.mu.Lock()
		u.targets = append(u.targets, r.RequestURI)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Target: r.RequestURI, Headers: r.Header, Trailers: r.Trailer, Body: string(b)})
	}))
	t.Cleanup(srv.Close)
	u.addr = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// seen returns the request targets the upstream got so far.
func (u *echoUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.targets...)
}

func decodeEcho(t *testing.T, label string, r response) echoed {
	t.Helper()
	var e echoed
	if r.Status != http.StatusOK {
		t.Fatalf("%s: upstream not reached: %d %q", label, r.Status, r.Body)
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(r.Body))).Decode(&e); err != nil {
		t.Fatalf("%s: decoding upstream echo %q: %v", label, r.Body, err)
	}
	return e
}

// headerValues returns every value of a header name in h, matching names
// case-insensitively with '_' and '-' taken as equal.
func headerValues(h map[string][]string, name string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	var out []string
	for k, v := range h {
		if norm(k) == norm(name) {
			out = append(out, v...)
		}
	}
	return out
}

// hitCounter is an HTTP server that answers anything with one fixed body
// and counts the requests it gets: the jku and x5u URLs of attack tokens,
// which the guard must never contact. (A remote key set the guard does
// fetch comes from the fake IdP, idp_helpers_test.go.)
type hitCounter struct {
	mu   sync.Mutex
	hits int
	srv  *httptest.Server
}

// newHitCounter starts a hitCounter answering with answer.
func newHitCounter(t *testing.T, answer []byte) *hitCounter {
	t.Helper()
	h := &hitCounter{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits++
		h.mu.Unlock()
		_, _ = w.Write(answer)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// count is how many requests the server got so far.
func (h *hitCounter) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}
