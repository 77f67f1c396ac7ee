package caddyjwt_test

// Helpers for the issuer's black-box integration tests
// (issuer_integration_test.go): Caddyfiles with a storage of the test's
// own, an HTTP client that never follows redirects, login and token
// helpers, and assertions on the issuer's response shapes. Every name
// starts with "iss": other files of this package declare generic names.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/caddyjwt/caddyjwt"
)

// issBase is the site every in-process test config serves.
var issBase = baseURL

// issArgon2Password and issArgon2Hash: a hash made once with
// `go run ./cmd/caddy hash-password --algorithm argon2id --plaintext argon-pass-1`
// (caddyauth.Argon2idHash{}.Hash has zero parameters outside Caddy's
// provisioning and cannot be used in a test).
const (
	issArgon2Password = "argon-pass-1"
	issArgon2Hash     = "$argon2id$v=19$m=47104,t=1,p=1$AV1SAXxzolyqbQ4KfQQ1dw$tKw9AvjlnYxQhO9MwANvShd+4iokznQhb6UaWrCVCHs"
)

// issGlobal is the global options block: the test Caddy's admin and
// ports, a storage folder of the test's own, and any extra options.
func issGlobal(storage string, extra ...string) string {
	return fmt.Sprintf("{\n\tadmin %s\n\thttp_port %d\n\thttps_port %d\n\tgrace_period 1ns\n", adminAddr, httpPort, httpsPort) +
		"\tstorage file_system " + storage + "\n" + strings.Join(extra, "\n") + "\n}\n"
}

// issErrors renders every error as the jwt_auth reason, keeping the status.
const issErrors = `
	handle_errors {
		respond "{http.auth.jwt_auth.error}" {http.error.status_code}
	}
`

// issSite is a whole Caddyfile: one site on issBase guarded by
// a jwt_auth block with the given lines; requests that pass get
// "ok <sub>", errors their reason.
func issSite(storage string, jwtLines []string, globalExtra ...string) string {
	return issGlobal(storage, globalExtra...) + "\n" + issBase + " {\n\tjwt_auth {\n\t\t" +
		strings.Join(jwtLines, "\n\t\t") + "\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n" + issErrors + "}\n"
}

// issForgetConns closes idle keep-alive connections that caddytest's admin
// requests leave in http.DefaultTransport: a config load replaces the admin
// server, and a request sent on a connection to the old one is reset.
func issForgetConns() {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// issStart loads cfg into the in-process Caddy, stopping the test if it
// does not load.
func issStart(t *testing.T, cfg string) {
	t.Helper()
	issStartAs(t, cfg, "caddyfile")
}

func issStartAs(t *testing.T, cfg, adapter string) {
	t.Helper()
	failedBefore := t.Failed()
	issForgetConns()
	caddytest.NewTester(t).InitServer(cfg, adapter)
	if !failedBefore && t.Failed() {
		t.Fatalf("config did not load:\n%s", cfg)
	}
}

// issLoadError asserts, with caddytest.AssertLoadError, that cfg is refused
// at load with an error holding want. AssertLoadError panics when the
// config loads; that is turned into a failure here.
func issLoadError(t *testing.T, label, cfg, adapter, want string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: config loaded, want a load error naming %q:\n%s", label, want, cfg)
		}
	}()
	issForgetConns()
	caddytest.AssertLoadError(t, cfg, adapter, want)
}

// ---------------------------------------------------------------------------
// HTTP

// issResp is what a test request got back.
type issResp struct {
	Status int
	Header http.Header
	Body   string
}

// issTransport dials 127.0.0.1 whatever the host, like caddytest, and
// never reuses a connection (configs are reloaded between requests).
func issTransport() *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		DisableKeepAlives: true,
	}
}

func issNoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// issHTTP is the client of most tests: no cookie jar, no redirects.
var issHTTP = &http.Client{Transport: issTransport(), CheckRedirect: issNoRedirect, Timeout: 15 * time.Second}

// issBrowser is a client with a cookie jar, not following redirects.
func issBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: issTransport(), CheckRedirect: issNoRedirect, Jar: jar, Timeout: 15 * time.Second}
}

// issOpt changes a request before it is sent.
type issOpt func(*http.Request)

func issBearer(tok string) issOpt {
	return func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+tok) }
}

func issHeader(k, v string) issOpt {
	return func(r *http.Request) { r.Header.Add(k, v) }
}

func issCookie(name, value string) issOpt {
	return func(r *http.Request) { r.Header.Add("Cookie", name+"="+value) }
}

// issBody sends a body with a content type (none when ct is empty).
func issBody(ct, s string) issOpt {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(s))
		r.ContentLength = int64(len(s))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
	}
}

// issJSON sends v as an application/json body.
func issJSON(v any) issOpt {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return issBody("application/json", string(b))
}

// issForm sends an application/x-www-form-urlencoded body.
func issForm(kv ...string) issOpt {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return issBody("application/x-www-form-urlencoded", v.Encode())
}

// issDo sends a request with issHTTP; target is a path on issBase or an
// absolute URL.
func issDo(t *testing.T, method, target string, opts ...issOpt) issResp {
	t.Helper()
	return issDoWith(t, issHTTP, method, target, opts...)
}

func issDoWith(t *testing.T, c *http.Client, method, target string, opts ...issOpt) issResp {
	t.Helper()
	r, err := issTry(c, method, target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// issTry sends a request and reports a transport error instead of failing
// the test, for goroutines.
func issTry(c *http.Client, method, target string, opts ...issOpt) (issResp, error) {
	if strings.HasPrefix(target, "/") {
		target = issBase + target
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return issResp{}, fmt.Errorf("building %s %s: %w", method, target, err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return issResp{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return issResp{}, fmt.Errorf("%s %s: reading body: %w", method, target, err)
	}
	return issResp{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
}

func (r issResp) String() string {
	var cookies []string
	for _, line := range r.Header.Values("Set-Cookie") {
		nv, attrs, _ := strings.Cut(line, ";")
		name, value, _ := strings.Cut(nv, "=")
		cookies = append(cookies, name+"="+issTrim(value, 12)+";"+attrs)
	}
	return fmt.Sprintf("%d %q (Set-Cookie %q, WWW-Authenticate %q)", r.Status, issTrim(r.Body, 80), cookies, r.Header.Get("WWW-Authenticate"))
}

func issTrim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// issSetCookie is the one Set-Cookie line of the cookie name, or "" when
// none was set; two lines for one name fail the test.
func issSetCookie(t *testing.T, label string, r issResp, name string) string {
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
func issLoginResp(t *testing.T, path, user, password string, opts ...issOpt) issResp {
	t.Helper()
	opts = append([]issOpt{issJSON(map[string]string{"username": user, "password": password})}, opts...)
	return issDo(t, http.MethodPost, path, opts...)
}

// issLogin logs in with JSON and returns the tokens; anything but 200 with
// an access token stops the test.
func issLogin(t *testing.T, path, user, password string, opts ...issOpt) issTokens {
	t.Helper()
	r := issLoginResp(t, path, user, password, opts...)
	if r.Status != http.StatusOK {
		t.Fatalf("login as %s at %s: %s", user, path, r)
	}
	return issDecodeTokens(t, "login as "+user, r)
}

func issDecodeTokens(t *testing.T, label string, r issResp) issTokens {
	t.Helper()
	var tok issTokens
	if err := json.Unmarshal([]byte(r.Body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("%s: no access token in %s (%v)", label, r, err)
	}
	return tok
}

// issRefreshJSON posts {"refresh_token": tok} to path.
func issRefreshJSON(t *testing.T, path, tok string, opts ...issOpt) issResp {
	t.Helper()
	opts = append([]issOpt{issJSON(map[string]string{"refresh_token": tok})}, opts...)
	return issDo(t, http.MethodPost, path, opts...)
}

// issParts decodes a compact JWS without verifying it; numbers are kept as
// json.Number.
func issParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: %d parts", issTrim(tok, 40), len(parts))
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("token part %q: %v", issTrim(s, 40), err)
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

// issHash is a bcrypt hash at the lowest cost, for speed.
func issHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
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

// issSign signs claims with key, with the given header fields.
func issSign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
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

// issWantOK asserts that the guard let a request through as user.
func issWantOK(t *testing.T, label string, r issResp, user string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != "ok "+user {
		t.Errorf("%s: got %s, want 200 %q", label, r, "ok "+user)
	}
}

// issWantRevoked asserts the guard's refusal of a revoked token.
func issWantRevoked(t *testing.T, label string, r issResp) {
	t.Helper()
	want := `Bearer realm="localhost", error="invalid_token", error_description="token revoked"`
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want || r.Body != "revoked" {
		t.Errorf("%s: got %s, want 401 %q with reason \"revoked\"", label, r, want)
	}
}

// issWantJSONError asserts a JSON error body {"error": code} with status.
func issWantJSONError(t *testing.T, label string, r issResp, status int, code string) {
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

// issWantStatus asserts a status.
func issWantStatus(t *testing.T, label string, r issResp, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %s, want %d", label, r, status)
	}
}

// issWantNoTokenCookies asserts that a response set no token cookie.
func issWantNoTokenCookies(t *testing.T, label string, r issResp) {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		if name, _, _ := strings.Cut(line, "="); strings.HasPrefix(name, "access_token") {
			t.Errorf("%s: unexpected Set-Cookie %q", label, issTrim(line, 40))
		}
	}
}

// issWantRetryAfter asserts a 429 whose Retry-After is whole seconds in
// [1, max].
func issWantRetryAfter(t *testing.T, label string, r issResp, max int) int {
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

// issEventually polls cond every 100ms until it holds or within passes.
func issEventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
