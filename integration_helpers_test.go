package caddyjwt_test

// Helpers for the black-box integration suite in integration_test.go: a
// Caddyfile skeleton, key material written to files in every format the
// directive reads, token minting (through golang-jwt and by hand, for
// tokens no library would produce), an HTTP client that never follows
// redirects, and assertions on the spec's response shapes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
)

const (
	// realmHeader is what a request without a token gets.
	realmHeader = `Bearer realm="localhost"`

	// hmac64 is a 64-byte printable HMAC secret: it serves HS256, HS384
	// and HS512.
	hmac64 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
)

// globalBlock is the global options block every test Caddyfile starts with.
var globalBlock = fmt.Sprintf(`{
	admin %s
	http_port %d
	https_port %d
	skip_install_trust
	grace_period 1ns
	auto_https off
}
`, adminAddr, httpPort, httpsPort)

// globalBlockWith is globalBlock with more global options.
func globalBlockWith(opts string) string {
	return strings.TrimSuffix(globalBlock, "}\n") + opts + "\n}\n"
}

// errorsBlock renders every error as its jwt_auth reason, keeping the status.
const errorsBlock = `
	handle_errors {
		respond "{http.auth.jwt_auth.error}" {http.error.status_code}
	}
`

// siteConfig returns a whole Caddyfile: the global block and one site on
// baseURL whose body is given.
func siteConfig(body string) string {
	return globalBlock + "\n" + baseURL + " {\n" + body + "\n}\n"
}

// guardConfig returns a Caddyfile whose site is guarded by a jwt_auth block
// with the given body, answers "ok <sub>" to requests that pass, and
// renders errors as the reason placeholder.
func guardConfig(jwtBody string) string {
	return siteConfig("\tjwt_auth {\n" + jwtBody + "\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n" + errorsBlock)
}

// lines joins subdirectives into a jwt_auth block body.
func lines(l ...string) string {
	return "\t\t" + strings.Join(l, "\n\t\t")
}

// startCaddy loads cfg into the in-process Caddy and stops the test if it
// did not load.
func startCaddy(t *testing.T, cfg string) {
	t.Helper()
	startConfig(t, cfg, "caddyfile")
}

func startConfig(t *testing.T, cfg, typ string) {
	t.Helper()
	failedBefore := t.Failed()
	forgetAdminConnections()
	tc := caddytest.NewTester(t)
	tc.InitServer(cfg, typ)
	if !failedBefore && t.Failed() {
		t.Fatalf("config did not load:\n%s", cfg)
	}
}

// assertLoadError asserts that cfg is refused at load with a message that
// holds want (caddytest.AssertLoadError panics when the config loads; that
// is turned into a test failure here).
func assertLoadError(t *testing.T, cfg, want string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("config loaded without error, want a load error naming %q:\n%s", want, cfg)
		}
	}()
	forgetAdminConnections()
	caddytest.AssertLoadError(t, cfg, "caddyfile", want)
}

// forgetAdminConnections closes the idle keep-alive connections that
// caddytest's admin requests leave in http.DefaultTransport: a config load
// replaces Caddy's admin server, and a POST sent on a connection to the old
// one is reset.
func forgetAdminConnections() {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// loadErrorText posts cfg to the admin endpoint and returns the error text
// (empty when the config loaded).
func loadErrorText(t *testing.T, cfg string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+adminAddr+"/load", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("posting config: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// HTTP

// response is what a test request got back.
type response struct {
	Status int
	Header http.Header
	Body   string
}

var httpClient = &http.Client{
	Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		DisableKeepAlives: true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// reqOpt changes a request before it is sent.
type reqOpt func(*http.Request)

// bearer sends "Authorization: Bearer <tok>".
func bearer(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+tok) }
}

// header adds a header line (the name canonicalized).
func header(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Add(k, v) }
}

// rawHeader adds a header line with its name exactly as given.
func rawHeader(k, v string) reqOpt {
	return func(r *http.Request) { r.Header[k] = append(r.Header[k], v) }
}

// cookie adds a "Cookie: name=value" line.
func cookie(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Add("Cookie", name+"="+value) }
}

// host sends another Host header.
func host(h string) reqOpt {
	return func(r *http.Request) { r.Host = h }
}

// body sends a request body.
func body(s string) reqOpt {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(s))
		r.ContentLength = int64(len(s))
	}
}

func doRequest(t *testing.T, method, path string, opts ...reqOpt) response {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, nil)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func get(t *testing.T, path string, opts ...reqOpt) response {
	t.Helper()
	return doRequest(t, http.MethodGet, path, opts...)
}

// rawRequest sends a request written by hand (so that its target is sent
// byte for byte) and reads one response.
func rawRequest(t *testing.T, raw string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(raw), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// ---------------------------------------------------------------------------
// assertions

// wantOK asserts a 200 with the given body.
func wantOK(t *testing.T, label string, r response, body string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Errorf("%s: got %d %q (WWW-Authenticate %q), want 200 %q", label, r.Status, r.Body, r.Header.Get("WWW-Authenticate"), body)
	}
}

// wantMissing asserts the "no token" row: 401 with a bare realm challenge.
// The body is the reason when the site renders errors with errorsBlock.
func wantMissing(t *testing.T, label string, r response) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusUnauthorized, realmHeader, "missing")
}

// wantInvalid asserts the "bad token" row with its reason and description.
func wantInvalid(t *testing.T, label string, r response, reason, description string) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusUnauthorized,
		fmt.Sprintf(`Bearer realm="localhost", error="invalid_token", error_description=%q`, description), reason)
}

// wantInvalidReason asserts a 401 invalid_token refusal with one of the
// given reasons, whatever its description (which must still be one of the
// fixed phrases).
func wantInvalidReason(t *testing.T, label string, r response, reasons ...string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: got status %d (body %q), want 401", label, r.Status, r.Body)
		return
	}
	ok := false
	for _, reason := range reasons {
		if r.Body == reason {
			ok = true
		}
	}
	if !ok {
		t.Errorf("%s: reason %q, want one of %q", label, r.Body, reasons)
	}
	wa := r.Header.Values("WWW-Authenticate")
	if len(wa) != 1 {
		t.Errorf("%s: WWW-Authenticate %q, want exactly one", label, wa)
		return
	}
	const prefix = `Bearer realm="localhost", error="invalid_token", error_description="`
	if !strings.HasPrefix(wa[0], prefix) || !strings.HasSuffix(wa[0], `"`) {
		t.Errorf("%s: WWW-Authenticate %q, want %s<reason>\"", label, wa[0], prefix)
		return
	}
	desc := strings.TrimSuffix(strings.TrimPrefix(wa[0], prefix), `"`)
	if !knownDescriptions[desc] {
		t.Errorf("%s: error_description %q is not one of the fixed phrases", label, desc)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("%s: refused request got Set-Cookie %q", label, sc)
	}
}

var knownDescriptions = map[string]bool{
	"token malformed":         true,
	"header not accepted":     true,
	"token expired":           true,
	"token not yet valid":     true,
	"signature invalid":       true,
	"unknown signing key":     true,
	"algorithm not accepted":  true,
	"issuer not accepted":     true,
	"audience not accepted":   true,
	"expiry missing":          true,
	"lifetime too long":       true,
	"claim has wrong type":    true,
	"token type not accepted": true,
}

// wantForbidden asserts the "require rule fails" row.
func wantForbidden(t *testing.T, label string, r response) {
	t.Helper()
	wantRefusal(t, label, r, http.StatusForbidden, `Bearer realm="localhost", error="insufficient_scope"`, "forbidden")
}

func wantRefusal(t *testing.T, label string, r response, status int, challenge, reason string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got status %d (body %q, WWW-Authenticate %q), want %d %s", label, r.Status, r.Body, r.Header.Values("WWW-Authenticate"), status, reason)
		return
	}
	if wa := r.Header.Values("WWW-Authenticate"); len(wa) != 1 || wa[0] != challenge {
		t.Errorf("%s: WWW-Authenticate %q, want [%q]", label, wa, challenge)
	}
	if reason != "" && r.Body != reason {
		t.Errorf("%s: reason placeholder %q, want %q", label, r.Body, reason)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("%s: refused request got Set-Cookie %q", label, sc)
	}
}

// wantNotServed asserts that a response did not hand out the marked content.
func wantNotServed(t *testing.T, label string, r response, marker string) {
	t.Helper()
	if r.Status/100 == 2 || strings.Contains(r.Body, marker) {
		t.Errorf("%s: got %d %q, the guarded file must not be served without a token", label, r.Status, r.Body)
	}
}

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

// keyDir returns a fresh directory for key files. Its path holds no word
// that a load error is checked for (t.TempDir's would hold the test name).
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
	input := b64u.EncodeToString(jsonBytes(t, hdr)) + "." + b64u.EncodeToString(jsonBytes(t, c))
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + b64u.EncodeToString(sig)
}

// hmacSigner signs with HMAC-SHA256 under key.
func hmacSigner(key []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// ---------------------------------------------------------------------------
// upstream

// echoServer starts an upstream on loopback that answers with the headers
// and body it received, as JSON.
func echoServer(t *testing.T) (addr string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Headers: r.Header, Body: string(b)})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// echoed is what echoServer answers.
type echoed struct {
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
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

// headerValues returns every value the upstream got for a header name,
// matching names case-insensitively with '_' and '-' taken as equal.
func (e echoed) headerValues(name string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	var out []string
	for k, v := range e.Headers {
		if norm(k) == norm(name) {
			out = append(out, v...)
		}
	}
	return out
}

// hitCounter is an HTTP server that counts the requests it gets.
type hitCounter struct {
	mu   sync.Mutex
	hits int
	srv  *httptest.Server
}

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

func (h *hitCounter) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}
