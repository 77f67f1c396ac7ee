package integration

// The in-process Caddy of caddytest that most suites load configs into:
// its ports, Caddyfile builders, loading configs (and expecting them to be
// refused), and waiting for a reload to be over. Requests are in
// http_helpers_test.go, assertions in assert_helpers_test.go; key
// material, tokens and upstreams in integration_helpers_test.go; the
// built binary run as a process in node_test.go.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// ---------------------------------------------------------------------------
// ports

// The in-process test Caddy listens on admin 2999, HTTP 9080 and HTTPS
// 9443, each moved by CADDYJWT_TEST_PORT_OFFSET (see portOffset).
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
	waitOldListenersGone(t)
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
	defer waitOldListenersGone(t) // a refused config may have replaced the admin server
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
	waitOldListenersGone(t)
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// waiting for a reload to be over

// waitOldListenersGone waits, for up to 10 s, until at most one socket
// listens on each of the in-process Caddy's ports (HTTP, HTTPS, admin).
//
// Why: on Linux, Caddy gives each new config listeners of their own
// (SO_REUSEPORT), and /load answers when the old servers' shutdown has
// only begun. For a moment two sockets listen on one port, and the kernel
// hands some new connections to the closing one, which drops them unread
// (EOF or "connection reset by peer" for the first requests after a
// reload, more often with the CPU busy). So a config counts as loaded only
// once the old listeners are gone. Past the timeout the test goes on and
// says so in its log: the clients' retry (see retryDropped) still covers
// a dropped connection.
func waitOldListenersGone(t *testing.T) {
	t.Helper()
	ports := []int{httpPort, httpsPort, 2999 + portOffset}
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := ""
		for _, p := range ports {
			if n, err := listeningSockets(p); err != nil {
				t.Logf("cannot count the listeners on port %d: %v", p, err)
				return
			} else if n > 1 {
				busy = fmt.Sprintf("%d sockets listen on port %d", n, p)
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("after a config load, %s after 10 s; going on", busy)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listeningSockets counts the TCP sockets (IPv4 and IPv6) in state LISTEN
// on a local port, from /proc/net/tcp and /proc/net/tcp6.
func listeningSockets(port int) (int, error) {
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6 in this kernel, say
		}
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st ...; local_address is
			// HEXIP:HEXPORT and st 0A is LISTEN.
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				n++
			}
		}
	}
	return n, nil
}
