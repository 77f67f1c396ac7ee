package integration

// The request helper of every suite: what a request got back, the
// clients (the in-process Caddy's retry a request whose connection was
// dropped unanswered, see retryDropped), request options, and requests
// sent through net/http or written by hand.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

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

// loopbackTransport dials 127.0.0.1 whatever the host, like caddytest,
// never reuses a connection (configs are reloaded between requests), and
// resends a request whose connection was dropped unanswered (see
// retryDropped).
func loopbackTransport() http.RoundTripper {
	return retryDropped{&http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		DisableKeepAlives: true,
	}}
}

// dropAttempts is how often a request dropped unanswered is sent in all.
const dropAttempts = 4

// retryDropped resends a request whose connection was closed or reset
// before a single byte of an answer came back, up to dropAttempts times.
//
// Why: right after a config reload the kernel may still hand a new
// connection to the old config's closing listener, which drops it unread
// (see waitOldListenersGone): EOF, unexpected EOF or ECONNRESET, never an
// answer. Such a request never reached a handler, so sending it again
// cannot change what the test sees. That is plain for a GET; a POST is
// resent only because no byte of an answer arrived (httptrace's
// GotFirstResponseByte never fired), and Caddy answers every request it
// reads, refusals included: a request it read is never dropped silently.
// Anything else (an answer, a timeout, a refused dial) is returned as it
// is, so a server that really drops requests still fails its tests.
type retryDropped struct{ base http.RoundTripper }

// RoundTrip sends req, and again while it is dropped unanswered. The body
// of each attempt comes from req.GetBody; req.Body itself is only closed.
func (rt retryDropped) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody != nil {
		defer req.Body.Close()
	}
	for attempt := 1; ; attempt++ {
		var answered atomic.Bool
		trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { answered.Store(true) }}
		again := req.Clone(httptrace.WithClientTrace(req.Context(), trace))
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return rt.base.RoundTrip(req) // a body that cannot be sent twice
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			again.Body = body
		}
		resp, err := rt.base.RoundTrip(again)
		if err == nil || answered.Load() || !droppedUnanswered(err) || attempt == dropAttempts {
			return resp, err
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

// droppedUnanswered tells whether err is a connection closed or reset by
// the server: EOF, unexpected EOF, ECONNRESET or EPIPE.
func droppedUnanswered(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
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

// body sends a request body (one that retryDropped can send again).
func body(s string) reqOpt {
	return func(r *http.Request) {
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
		r.Body, _ = r.GetBody()
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
// byte for byte) and reads one response. Like retryDropped, it sends the
// request again when the connection was dropped before a single byte of
// an answer came back.
func rawRequest(t *testing.T, raw string) response {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r, read, err := rawOnce(raw)
		if err == nil {
			return r
		}
		if read > 0 || !droppedUnanswered(err) || attempt == dropAttempts {
			t.Fatalf("%q: %v", firstLine(raw), err)
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

// rawOnce sends raw on a new connection and reads one response; read is
// how many bytes of an answer came back.
func rawOnce(raw string) (r response, read int64, err error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), 5*time.Second)
	if err != nil {
		return r, 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return r, 0, fmt.Errorf("write: %w", err)
	}
	counted := &countingReader{r: conn}
	resp, err := http.ReadResponse(bufio.NewReader(counted), nil)
	if err != nil {
		return r, counted.n, fmt.Errorf("reading response: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, counted.n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// reply is one answer of a request to a Caddy process (sendRequest): the
// response, read to the end, or a transport error, and how long it took.
type reply struct {
	response
	err  error
	took time.Duration
}

func (r reply) String() string {
	if r.err != nil {
		return "transport error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %q (WWW-Authenticate %q)", r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
}

// sendRequest sends one request with client to an absolute url, with a
// bearer token and a JSON body when they are not "". It never fails the
// test, so that load loops on goroutines can count transport errors.
func sendRequest(client *http.Client, method, url, token, jsonBody string) reply {
	var opts []reqOpt
	if token != "" {
		opts = append(opts, bearer(token))
	}
	if jsonBody != "" {
		opts = append(opts, typedBody("application/json", jsonBody))
	}
	start := time.Now()
	r, err := try(client, method, url, opts...)
	return reply{response: r, err: err, took: time.Since(start)}
}
