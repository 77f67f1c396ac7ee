package caddyjwt_test

// The harness every black-box suite of this package shares: the ports of
// the in-process Caddy, Caddyfile builders, loading configs (and expecting
// them to be refused), HTTP clients and requests, and the assertions on
// the spec's response shapes. Key material, token minting and upstreams
// are in integration_helpers_test.go; the issuer's and the remote keys'
// own helpers in issuer_helpers_test.go and remote_helpers_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyjwt/caddyjwt"
)

// ---------------------------------------------------------------------------
// ports

// The in-process test Caddy listens on admin 2999, HTTP 9080 and HTTPS
// 9443, each moved by CADDYJWT_TEST_PORT_OFFSET (see caddyjwt.PortOffset).
var portOffset = caddyjwt.PortOffset

var (
	adminAddr = fmt.Sprintf("localhost:%d", 2999+portOffset)
	httpPort  = 9080 + portOffset
	httpsPort = 9443 + portOffset
	// siteHost is the host:port of the test site; baseURL its URL.
	siteHost = fmt.Sprintf("localhost:%d", httpPort)
	baseURL  = "http://" + siteHost
)

func init() { caddytest.Default.AdminPort = 2999 + portOffset }

// ---------------------------------------------------------------------------
// Caddyfiles

// realmHeader is what a request without a token gets.
const realmHeader = `Bearer realm="localhost"`

// globalOptions returns the global options block of a test Caddyfile: the
// test Caddy's admin address and ports, no automatic HTTPS, a file_system
// storage in the folder storage when it is not "", and the extra options
// (whole lines, indented by the caller) after them.
func globalOptions(storage string, extra ...string) string {
	s := fmt.Sprintf(`{
	admin %s
	http_port %d
	https_port %d
	skip_install_trust
	grace_period 1ns
	auto_https off
`, adminAddr, httpPort, httpsPort)
	if storage != "" {
		s += "\tstorage file_system " + storage + "\n"
	}
	if len(extra) > 0 {
		s += strings.Join(extra, "\n") + "\n"
	}
	return s + "}\n"
}

// globalBlock is the global options block every test Caddyfile starts with
// (Caddy's default storage).
var globalBlock = globalOptions("")

// globalBlockWith is globalBlock with more global options.
func globalBlockWith(opts string) string {
	return globalOptions("", opts)
}

// errorsBlock renders every error as its jwt_auth reason, keeping the status.
const errorsBlock = `
	handle_errors {
		respond "{http.auth.jwt_auth.error}" {http.error.status_code}
	}
`

// siteConfigWith returns a whole Caddyfile: the given global options block
// and one site on baseURL whose body is given.
func siteConfigWith(global, body string) string {
	return global + "\n" + baseURL + " {\n" + body + "\n}\n"
}

// siteConfig is siteConfigWith under globalBlock.
func siteConfig(body string) string {
	return siteConfigWith(globalBlock, body)
}

// guardBody is a site body guarded by a jwt_auth block with the given
// body, answering "ok <sub>" to requests that pass and rendering errors as
// the reason placeholder.
func guardBody(jwtBody string) string {
	return "\tjwt_auth {\n" + jwtBody + "\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n" + errorsBlock
}

// guardConfig returns a Caddyfile whose site is guarded by a jwt_auth block
// with the given body, answers "ok <sub>" to requests that pass, and
// renders errors as the reason placeholder.
func guardConfig(jwtBody string) string {
	return siteConfig(guardBody(jwtBody))
}

// guardConfigIn is guardConfig with a storage folder of its own (see
// globalOptions) and extra global options; the jwt_auth block holds the
// given subdirectives, one a line.
func guardConfigIn(storage string, jwtLines []string, globalExtra ...string) string {
	return siteConfigWith(globalOptions(storage, globalExtra...), guardBody(lines(jwtLines...)))
}

// lines joins subdirectives into a jwt_auth block body.
func lines(l ...string) string {
	return "\t\t" + strings.Join(l, "\n\t\t")
}

// ---------------------------------------------------------------------------
// loading configs

// startCaddy loads cfg into the in-process Caddy (starting it the first
// time) and stops the test if it did not load.
func startCaddy(t *testing.T, cfg string) {
	t.Helper()
	startConfig(t, cfg, "caddyfile")
}

// startConfig is startCaddy for a config of the given adapter ("json").
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

// assertLoadError asserts that the Caddyfile cfg is refused at load with a
// message that holds want.
func assertLoadError(t *testing.T, cfg, want string) {
	t.Helper()
	wantLoadError(t, "", cfg, "caddyfile", want)
}

// wantLoadError asserts that cfg, for the given adapter, is refused at
// load with a message that holds want (caddytest.AssertLoadError panics
// when the config loads; that is turned into a test failure here). label,
// when not "", starts the failure message.
func wantLoadError(t *testing.T, label, cfg, adapter, want string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if label != "" {
				label += ": "
			}
			t.Errorf("%sconfig loaded without error, want a load error naming %q:\n%s", label, want, cfg)
		}
	}()
	forgetAdminConnections()
	caddytest.AssertLoadError(t, cfg, adapter, want)
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

// loadErrorText posts the Caddyfile cfg to the admin endpoint and returns
// the error text (empty when the config loaded). Caddy must already run.
func loadErrorText(t *testing.T, cfg string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+adminAddr+"/load", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
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

// String shows a response in failure messages: the status, the start of
// the body, the Set-Cookie lines (values shortened) and the challenge.
func (r response) String() string {
	var cookies []string
	for _, line := range r.Header.Values("Set-Cookie") {
		nv, attrs, _ := strings.Cut(line, ";")
		name, value, _ := strings.Cut(nv, "=")
		cookies = append(cookies, name+"="+shorten(value, 12)+";"+attrs)
	}
	return fmt.Sprintf("%d %q (Set-Cookie %q, WWW-Authenticate %q)", r.Status, shorten(r.Body, 80), cookies, r.Header.Get("WWW-Authenticate"))
}

// shorten cuts s to n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// loopbackTransport dials 127.0.0.1 whatever the host, like caddytest, and
// never reuses a connection (configs are reloaded between requests).
func loopbackTransport() *http.Transport {
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

// noRedirect makes a client return a redirect instead of following it.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// httpClient is the client of most tests: no cookie jar, no redirects. Its
// timeout leaves room for a remote key fetch that takes its full 10 s.
var httpClient = &http.Client{Transport: loopbackTransport(), CheckRedirect: noRedirect, Timeout: 30 * time.Second}

// browserClient is a client with a cookie jar of its own, not following
// redirects.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: loopbackTransport(), CheckRedirect: noRedirect, Jar: jar, Timeout: 30 * time.Second}
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

// typedBody sends a body with a Content-Type (none when ct is "").
func typedBody(ct, s string) reqOpt {
	return func(r *http.Request) {
		body(s)(r)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
	}
}

// jsonBody sends v as an application/json body.
func jsonBody(v any) reqOpt {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return typedBody("application/json", string(b))
}

// formBody sends the pairs key, value, ... as an
// application/x-www-form-urlencoded body.
func formBody(kv ...string) reqOpt {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return typedBody("application/x-www-form-urlencoded", v.Encode())
}

// doRequest sends a request with httpClient and stops the test on a
// transport error. target is a path on baseURL or an absolute http(s) URL.
func doRequest(t *testing.T, method, target string, opts ...reqOpt) response {
	t.Helper()
	return doWith(t, httpClient, method, target, opts...)
}

// get is doRequest for GET.
func get(t *testing.T, target string, opts ...reqOpt) response {
	t.Helper()
	return doRequest(t, http.MethodGet, target, opts...)
}

// doWith is doRequest with another client (browserClient's, say).
func doWith(t *testing.T, c *http.Client, method, target string, opts ...reqOpt) response {
	t.Helper()
	r, err := try(c, method, target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try sends a request and returns a transport error instead of failing
// the test, so that goroutines may call it.
func try(c *http.Client, method, target string, opts ...reqOpt) (response, error) {
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = baseURL + target
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return response{}, fmt.Errorf("building %s %s: %w", method, target, err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading body: %w", method, target, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
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
// waiting and users

// eventually polls cond every 100ms until it holds, and stops the test
// when it does not within the given time; it returns how long it took.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
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

// bcryptHash is a bcrypt hash of password at the lowest cost, for speed.
func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// ---------------------------------------------------------------------------
// assertions

// wantStatus asserts a status.
func wantStatus(t *testing.T, label string, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %s, want %d", label, r, status)
	}
}

// wantOK asserts a 200 with the given body ("ok <sub>" on a site built
// with guardConfig).
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

// invalidTokenPrefix starts the challenge of every "bad token" refusal.
const invalidTokenPrefix = `Bearer realm="localhost", error="invalid_token", error_description="`

// wantInvalidDescription asserts a 401 invalid_token refusal; description,
// when not "", is the error_description wanted. It does not look at the
// body.
func wantInvalidDescription(t *testing.T, label string, r response, description string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: got %s, want 401", label, r)
		return
	}
	c := r.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(c, invalidTokenPrefix) {
		t.Errorf("%s: WWW-Authenticate %q, want %s...", label, c, invalidTokenPrefix)
		return
	}
	if description != "" && c != invalidTokenPrefix+description+`"` {
		t.Errorf("%s: WWW-Authenticate %q, want error_description %q", label, c, description)
	}
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
	if !strings.HasPrefix(wa[0], invalidTokenPrefix) || !strings.HasSuffix(wa[0], `"`) {
		t.Errorf("%s: WWW-Authenticate %q, want %s<reason>\"", label, wa[0], invalidTokenPrefix)
		return
	}
	desc := strings.TrimSuffix(strings.TrimPrefix(wa[0], invalidTokenPrefix), `"`)
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

// wantRefusal asserts a refusal with the given status, exactly one
// challenge, the reason as body (unless reason is "") and no Set-Cookie.
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
