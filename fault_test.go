package caddyjwt

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Faults and load (issue 6): reloads under load, goroutines after
// reloads, a JWKS endpoint down or hanging under load, a read-only
// storage, and clock skew. Each test runs the built binary as a process
// (like cluster_test.go), except the clock-skew test, which needs the
// package clock and runs two handlers in process on one storage.

// faultNoHang is the "no hang" bound for a request that must not wait on
// anything slow (an IdP, storage): a correctness bound, not a timing
// benchmark, so it is generous.
const faultNoHang = 5 * time.Second

// faultPort is a port for this file's Caddy sites and admin endpoints:
// 10000+n, moved by CADDYJWT_TEST_PORT_OFFSET like every test port.
func faultPort(n int) int { return 10000 + PortOffset + n }

// faultTokenCookie tells whether a response sets a token cookie with a
// value (clearing one, Max-Age=0 with no value, does not count).
func faultTokenCookie(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if strings.HasPrefix(c.Name, "access_token") && c.Value != "" {
			return c.Name
		}
	}
	return ""
}

// faultConn is a keep-alive HTTP/1.1 client connection that, unlike
// net/http's client, never retries: a request on a connection that the
// server closed is a transport error, as wrk or a curl loop counts it.
// (net/http resends a GET that met a closed keep-alive connection, which
// would hide exactly the connections a reload closes.)
type faultConn struct {
	addr string // host:port, also the Host header
	conn net.Conn
	r    *bufio.Reader
}

func (c *faultConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// get sends GET / with the token, on the open connection or a new one.
func (c *faultConn) get(bearer string) reply {
	start := time.Now()
	fail := func(err error) reply {
		c.close()
		return reply{err: err, took: time.Since(start)}
	}
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return fail(err)
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	if err := c.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return fail(err)
	}
	req := "GET / HTTP/1.1\r\nHost: " + c.addr + "\r\n"
	if bearer != "" {
		req += "Authorization: Bearer " + bearer + "\r\n"
	}
	if _, err := io.WriteString(c.conn, req+"\r\n"); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return fail(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fail(err)
	}
	if resp.Close {
		c.close()
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body), took: time.Since(start)}
}

// faultReload runs the binary's own `caddy reload` against the admin
// endpoint.
func faultReload(t *testing.T, bin, cfg, admin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "reload", "--config", cfg, "--adapter", "caddyfile", "--address", admin).CombinedOutput()
	if err != nil {
		t.Fatalf("caddy reload: %v\n%s", err, out)
	}
}

// faultWriteFile writes a file that the test's Caddy reads.
func faultWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Reloads under load

// faultReloadConfig has two sites in one process, so that both see the
// same reloads: a plain one and one guarded by jwt_auth with key auto (its
// key read back from storage at every reload), the issuer endpoints and
// revocations. gen changes what both sites answer, so that every
// `caddy reload` loads a config that really differs (Caddy skips an
// identical one).
func faultReloadConfig(storage, hash string, admin, plain, guard, gen int) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	auto_https off
	storage file_system %s
}

http://localhost:%d {
	respond "plain %d"
}

http://localhost:%d {
	jwt_auth {
		key auto
		login /login
		refresh /refresh
		logout /logout
		jwks_endpoint /jwks
		user alice %s
	}
	respond "ok %d {http.auth.user.id}"
}
`, admin, storage, plain, gen, guard, hash, gen)
}

// Request kinds of the load loop.
const (
	faultPlain   = iota // the plain site
	faultValid          // the guarded site, a valid token
	faultMissing        // the guarded site, no token: 401
	faultRevoked        // the guarded site, a logged-out token: 401
	faultKinds
)

var faultKindNames = [faultKinds]string{"plain", "guarded, valid token", "guarded, no token", "guarded, revoked token"}

// faultTally counts what one kind of request came to.
type faultTally struct {
	sent, ok, wrong, transport int
	slowest                    time.Duration
	samples                    []string // the first few wrong answers
	errs                       []string // the first few transport errors
}

func (c *faultTally) add(o faultTally) {
	c.sent += o.sent
	c.ok += o.ok
	c.wrong += o.wrong
	c.transport += o.transport
	c.slowest = max(c.slowest, o.slowest)
	c.samples = faultFirst(c.samples, o.samples...)
	c.errs = faultFirst(c.errs, o.errs...)
}

// note keeps a wrong answer or a transport error as an example.
func (c *faultTally) note(r reply, prefix string) {
	if r.err != nil {
		c.errs = faultFirst(c.errs, prefix+r.String())
	} else {
		c.samples = faultFirst(c.samples, prefix+r.String())
	}
}

// faultFirst appends to list up to five items.
func faultFirst(list []string, more ...string) []string {
	return append(list, more[:min(len(more), max(0, 5-len(list)))]...)
}

// faultRate is a count per request, in percent.
func faultRate(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f %%", 100*float64(n)/float64(of))
}

// faultBinomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func faultBinomialTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return 1
	}
	lgn, _ := math.Lgamma(float64(n + 1))
	sum := 0.0
	for i := k; i <= n; i++ {
		lgi, _ := math.Lgamma(float64(i + 1))
		lgr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgn - lgi - lgr + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return min(sum, 1)
}

// faultTransportAlpha is how unlikely the guarded site's share of the
// transport errors must be, if both sites had the same error rate, before
// the test calls it worse than plain Caddy.
const faultTransportAlpha = 0.001

// TestFaultReloadUnderLoad runs `caddy reload` ten times while a client
// loop of several goroutines sends requests to a plain and a guarded site
// of the same process. On the guarded site, a valid token always gets 200,
// no token always 401, a logged-out token always 401 "token revoked": not
// one error status, across ten new handlers. Connections that the reloads
// close (transport errors) are counted apart for each site; the guarded
// site must not lose more of them than plain Caddy does in the same loop.
func TestFaultReloadUnderLoad(t *testing.T) {
	bin := buildCaddy(t)
	hash := bcryptHash(t, clusterPassword, bcrypt.MinCost)
	storage := clusterStorageDir(t)
	adminPort, plainPort, guardPort := faultPort(1), faultPort(11), faultPort(12)
	admin := fmt.Sprintf("localhost:%d", adminPort)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	faultWriteFile(t, cfg, faultReloadConfig(storage, hash, adminPort, plainPort, guardPort, 0))
	node := clusterStart(t, bin, cfg, guardPort)
	node.wait(t)

	var valid []string
	for range 6 {
		valid = append(valid, node.login(t).AccessToken)
	}
	revoked := node.login(t).AccessToken
	if status, body := node.post(t, "/logout", revoked, ""); status != http.StatusNoContent {
		t.Fatalf("logout: %d %q", status, body)
	}
	plainAddr := fmt.Sprintf("localhost:%d", plainPort)
	guardAddr := fmt.Sprintf("localhost:%d", guardPort)

	// Each worker keeps one keep-alive connection to each site, as a
	// proxy in front would: keep-alive connections are what a reload
	// closes. The client does not retry (see faultConn), and its timeout
	// (30 s) is past the no-hang bound, so that a hang is measured, not
	// cut.
	const workers = 4

	var (
		stop     atomic.Bool
		finished atomic.Int64 // requests answered so far, of any kind
		mu       sync.Mutex
		tally    [faultKinds]faultTally
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local [faultKinds]faultTally
			plain, guard := &faultConn{addr: plainAddr}, &faultConn{addr: guardAddr}
			defer plain.close()
			defer guard.close()
			for i := w; !stop.Load(); i++ {
				// Plain and guarded alternate; on the guarded site six
				// valid tokens, then no token, then the revoked one.
				kind, conn, token := faultPlain, plain, ""
				if i%2 == 1 {
					conn = guard
					switch j := (i / 2) % 8; j {
					case 6:
						kind = faultMissing
					case 7:
						kind, token = faultRevoked, revoked
					default:
						kind, token = faultValid, valid[j]
					}
				}
				r := conn.get(token)
				finished.Add(1)
				c := &local[kind]
				c.sent++
				c.slowest = max(c.slowest, r.took)
				if r.err != nil {
					c.transport++
					c.note(r, "")
					continue
				}
				var good bool
				switch kind {
				case faultPlain:
					good = r.status == 200 && strings.HasPrefix(r.body, "plain ")
				case faultValid:
					good = r.status == 200 && strings.HasPrefix(r.body, "ok ") && strings.HasSuffix(r.body, " alice")
				case faultMissing:
					good = r.status == 401 && r.header.Get("WWW-Authenticate") == `Bearer realm="localhost"`
				case faultRevoked:
					good = r.status == 401 && strings.Contains(r.header.Get("WWW-Authenticate"), `error_description="token revoked"`)
				}
				if good {
					c.ok++
				} else {
					c.wrong++
					c.note(r, "")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for k := range local {
				tally[k].add(local[k])
			}
		}()
	}

	// Ten reloads, each to a config that differs; the load runs through
	// each (requests are answered while the reload command runs).
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	var during []int64
	for gen := 1; gen <= 10; gen++ {
		faultWriteFile(t, cfg, faultReloadConfig(storage, hash, adminPort, plainPort, guardPort, gen))
		before := finished.Load()
		faultReload(t, bin, cfg, admin)
		during = append(during, finished.Load()-before)
		time.Sleep(300 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()

	// Every reload took effect: both sites answer with the last config.
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if r := sendRequest(fresh, http.MethodGet, "http://"+plainAddr+"/", "", ""); r.status != 200 || r.body != "plain 10" {
		t.Errorf("plain site after the reloads: %v, want 200 \"plain 10\"", r)
	}
	if r := sendRequest(fresh, http.MethodGet, "http://"+guardAddr+"/", valid[0], ""); r.status != 200 || r.body != "ok 10 alice" {
		t.Errorf("guarded site after the reloads: %v, want 200 \"ok 10 alice\"", r)
	}

	for k, c := range tally {
		t.Logf("%-24s sent %6d  ok %6d  wrong %d  transport errors %d (%s)  slowest %v",
			faultKindNames[k], c.sent, c.ok, c.wrong, c.transport, faultRate(c.transport, c.sent), c.slowest.Round(time.Millisecond))
	}
	t.Logf("10 reloads in %v; requests answered while each reload command ran: %v", elapsed.Round(time.Millisecond), during)
	for i, n := range during {
		if n == 0 {
			t.Errorf("no request was answered while reload %d ran: the load did not run through it", i+1)
		}
	}

	// Not one valid request refused, not one error status on the guarded
	// site. (The plain site's answers are Caddy's; they are logged above.)
	for _, k := range []int{faultValid, faultMissing, faultRevoked} {
		if c := tally[k]; c.wrong > 0 || c.ok == 0 {
			t.Errorf("%s: %d wrong answers of %d; first: %q", faultKindNames[k], c.wrong, c.sent, c.samples)
		}
	}
	for k, c := range tally {
		if c.slowest > faultNoHang {
			t.Errorf("%s: a request took %v (no-hang bound %v)", faultKindNames[k], c.slowest, faultNoHang)
		}
	}

	// Transport errors. Under the hypothesis that the guard loses
	// connections at plain Caddy's rate, each of the k transport errors of
	// both sites falls on the guarded site with probability
	// q = guarded requests / all requests, so the guarded count is
	// Binomial(k, q) (the conditional test for two Poisson rates: fair
	// for small counts, where a ratio of rates is noise). The test fails
	// when the guarded count is so high that this has probability below
	// 0.001. For example, with as many requests on both sites, 0 plain
	// errors allow at most 9 guarded ones, 5 plain errors at most 16.
	var g faultTally
	for _, k := range []int{faultValid, faultMissing, faultRevoked} {
		g.add(tally[k])
	}
	p := tally[faultPlain]
	k := g.transport + p.transport
	q := float64(g.sent) / float64(g.sent+p.sent)
	tail := faultBinomialTail(k, g.transport, q)
	t.Logf("transport errors: plain %d of %d (%s), guarded %d of %d (%s); P(guarded ≥ %d | %d in all, same rate) = %.3g",
		p.transport, p.sent, faultRate(p.transport, p.sent), g.transport, g.sent, faultRate(g.transport, g.sent), g.transport, k, tail)
	if len(p.errs) > 0 || len(g.errs) > 0 {
		t.Logf("first plain transport errors: %q; first guarded: %q", p.errs, g.errs)
	}
	if tail < faultTransportAlpha {
		t.Errorf("the guarded site lost %d connections to the reloads, plain Caddy %d: more than chance allows (p = %.3g < %g)",
			g.transport, p.transport, tail, faultTransportAlpha)
	}
}

// ---------------------------------------------------------------------------
// Goroutines after reloads

// faultIdP is a fake identity provider on loopback serving one ES256 key
// as a JWK set; the test switches it between healthy, failing (500) and
// hanging (no answer until the client gives up).
type faultIdP struct {
	srv     *httptest.Server
	hits    atomic.Int64
	mode    atomic.Int32
	jwks    []byte
	release chan struct{}
}

const (
	faultIdPHealthy = iota
	faultIdP500
	faultIdPHang
)

// newFaultIdP serves the public keys as a JWK set, each under its kid.
// Without keep-alives, the handler's fetches leave no idle connection
// behind (the goroutine count sees none).
func newFaultIdP(t *testing.T, keys map[string]*ecdsa.PrivateKey) *faultIdP {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		point, err := k.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, map[string]string{
			"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
			"x": base64.RawURLEncoding.EncodeToString(point[1:33]),
			"y": base64.RawURLEncoding.EncodeToString(point[33:]),
		})
	}
	idp := &faultIdP{release: make(chan struct{})}
	idp.jwks, _ = json.Marshal(set)
	idp.srv = httptest.NewUnstartedServer(http.HandlerFunc(idp.serve))
	idp.srv.Config.SetKeepAlivesEnabled(false)
	idp.srv.Start()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(idp.release) }); idp.srv.Close() })
	return idp
}

func (idp *faultIdP) url() string { return idp.srv.URL + "/jwks" }

func (idp *faultIdP) serve(w http.ResponseWriter, r *http.Request) {
	idp.hits.Add(1)
	switch idp.mode.Load() {
	case faultIdP500:
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	case faultIdPHang:
		select {
		case <-r.Context().Done():
		case <-idp.release:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(idp.jwks)
}

// faultNewKey makes an ES256 key.
func faultNewKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// faultCount is a process's goroutine count: in all, and those with a
// function of this package on their stack (the plugin's own).
type faultCount struct {
	total, plugin int
	profile       string
}

// faultGoroutines reads the process's goroutines from the admin
// endpoint's pprof text profile: "goroutine profile: total N", then one
// record per distinct stack, "N @ ..." and its frames.
func faultGoroutines(t *testing.T, admin string) faultCount {
	t.Helper()
	r := sendRequest(&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		http.MethodGet, "http://"+admin+"/debug/pprof/goroutine?debug=1", "", "")
	if r.err != nil || r.status != 200 {
		t.Fatalf("goroutine profile: %v", r)
	}
	c := faultCount{profile: r.body}
	first, rest, _ := strings.Cut(r.body, "\n")
	var err error
	if c.total, err = strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total ")); err != nil {
		t.Fatalf("goroutine profile starts %q", first)
	}
	for _, rec := range strings.Split(rest, "\n\n") {
		n, _, _ := strings.Cut(rec, " @ ")
		if count, err := strconv.Atoi(n); err == nil && strings.Contains(rec, "github.com/caddyjwt/caddyjwt.") {
			c.plugin += count
		}
	}
	return c
}

// faultGoroutineSlack is how many more goroutines than before the ten
// reloads the process may settle at. A goroutine that outlives its config
// adds one per reload, ten in all; Caddy itself has a few that come and
// go (a connection being closed, a storage lock's refresher, the profile
// request's own connection), which the slack absorbs. Five is below ten,
// so a single leaking loop fails the test. The plugin's own goroutines
// get no slack: after the reloads there are as many as before, one
// config's worth.
const faultGoroutineSlack = 5

// faultSettledGoroutines waits for the goroutines of stopped configs to
// end: an old server finishes its connections, and a storage lock file's
// refresher notices the unlock within 5 s (certmagic's interval). With a
// target, it returns as soon as the counts are within it, or after 15 s;
// without, it samples for 6 s and returns the lowest count.
func faultSettledGoroutines(t *testing.T, admin string, target *faultCount) faultCount {
	t.Helper()
	wait := 6 * time.Second
	if target != nil {
		wait = 15 * time.Second
	}
	deadline := time.Now().Add(wait)
	var lowest faultCount
	for {
		c := faultGoroutines(t, admin)
		if lowest.profile == "" || c.total < lowest.total {
			lowest = c
		}
		if target != nil && c.total <= target.total && c.plugin <= target.plugin {
			return c
		}
		if time.Now().After(deadline) {
			return lowest
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFaultGoroutinesAfterReloads reloads a guard that runs every kind of
// background work the plugin owns — key auto rotation checks, a remote
// JWK set refreshed from a fake IdP, users_file polling, the revocation
// sync and the refresh-family sweep — ten times, and counts the process's
// goroutines before and after: each config's goroutines end with it.
func TestFaultGoroutinesAfterReloads(t *testing.T) {
	bin := buildCaddy(t)
	storage := clusterStorageDir(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	faultWriteFile(t, users, fmt.Sprintf(`{"alice": {"password": %q}}`, bcryptHash(t, clusterPassword, bcrypt.MinCost)))
	idp := newFaultIdP(t, map[string]*ecdsa.PrivateKey{"idp-1": faultNewKey(t)})
	adminPort, port := faultPort(2), faultPort(21)
	admin := fmt.Sprintf("localhost:%d", adminPort)
	cfg := filepath.Join(dir, "Caddyfile")
	write := func(gen int) {
		faultWriteFile(t, cfg, fmt.Sprintf(`{
	admin localhost:%d
	auto_https off
	storage file_system %s
}

http://localhost:%d {
	jwt_auth {
		key auto ES256 {
			rotate 8s
		}
		jwks %s
		users_file %s
		login /login
		refresh /refresh
		logout /logout
		jwks_endpoint /jwks
	}
	respond "ok %d {http.auth.user.id}"
}
`, adminPort, storage, port, idp.url(), users, gen))
	}
	write(0)
	node := clusterStart(t, bin, cfg, port)
	node.wait(t)
	// A login and a logout, so that the revocation sync and the family
	// sweep have entries to read at every reload.
	tok := node.login(t)
	if status, _ := node.post(t, "/logout", tok.AccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	node.login(t)

	// Warm up: two reloads, so that whatever Caddy starts once on its
	// first reload is running before the count.
	gen := 0
	reload := func() {
		gen++
		write(gen)
		faultReload(t, bin, cfg, admin)
		r := sendRequest(clusterClient, http.MethodGet, node.base+"/", node.login(t).AccessToken, "")
		if want := fmt.Sprintf("ok %d alice", gen); r.status != 200 || r.body != want {
			t.Fatalf("a fresh login's token after reload %d: %v, want 200 %q", gen, r, want)
		}
	}
	reload()
	reload()
	before := faultSettledGoroutines(t, admin, nil)
	// The five loops of one config: revocation sync, users_file polling,
	// family sweep, rotation checks, remote key refresh.
	if before.plugin < 5 {
		t.Fatalf("%d goroutines of the plugin before the reloads, want its 5 background loops; profile:\n%s", before.plugin, before.profile)
	}
	hitsBefore := idp.hits.Load()

	for range 10 {
		reload()
		time.Sleep(200 * time.Millisecond)
	}
	if got := idp.hits.Load() - hitsBefore; got < 10 {
		t.Errorf("the IdP saw %d fetches during ten reloads, want one per config at least", got)
	}
	target := faultCount{total: before.total + faultGoroutineSlack, plugin: before.plugin}
	after := faultSettledGoroutines(t, admin, &target)
	t.Logf("goroutines: %d before ten reloads (%d of the plugin), %d after (%d of the plugin); slack %d in all, 0 for the plugin",
		before.total, before.plugin, after.total, after.plugin, faultGoroutineSlack)
	if after.total > target.total || after.plugin > target.plugin {
		t.Errorf("goroutines grew over ten reloads: %d to %d in all (slack %d), %d to %d of the plugin; profile:\n%s",
			before.total, after.total, faultGoroutineSlack, before.plugin, after.plugin, after.profile)
	}
}

// ---------------------------------------------------------------------------
// JWKS endpoint down, failing or hanging under load

// TestFaultJWKSOutageUnderLoad runs three guards, each on its own remote
// JWK set, under a steady load of valid tokens, and then takes their
// IdPs down in three ways at once: one answers 500, one stops answering
// (it hangs longer than the 10 s fetch timeout), one is closed (its port
// refuses connections). Valid tokens with known kids keep passing, none
// waiting on an IdP. Tokens with an unknown kid, sent all through the
// outage, are refused with 401, after one refetch per source (at most one
// a minute), and the ones that wait on the hanging IdP are let go at the
// fetch timeout.
func TestFaultJWKSOutageUnderLoad(t *testing.T) {
	bin := buildCaddy(t)
	type site struct {
		name    string
		idp     *faultIdP
		port    int
		valid   string // a token with a kid the IdP published
		unknown string // a token with a kid no one published
	}
	var sites []*site
	for i, name := range []string{"500", "hang", "closed"} {
		key, other := faultNewKey(t), faultNewKey(t)
		kid := "idp-" + name
		s := &site{name: name, idp: newFaultIdP(t, map[string]*ecdsa.PrivateKey{kid: key}), port: faultPort(31 + i)}
		s.valid = mint(t, "ES256", key, valid(jwt.MapClaims{"sub": "alice"}), map[string]any{"kid": kid})
		s.unknown = mint(t, "ES256", other, valid(jwt.MapClaims{"sub": "mallory"}), map[string]any{"kid": kid + "-new"})
		sites = append(sites, s)
	}
	metricsPort := faultPort(34)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s\n}\n", clusterStorageDir(t))
	for _, s := range sites {
		fmt.Fprintf(&cfg, "\nhttp://localhost:%d {\n\tjwt_auth {\n\t\tjwks %s\n\t}\n\trespond \"ok {http.auth.user.id}\"\n}\n", s.port, s.idp.url())
	}
	fmt.Fprintf(&cfg, "\nhttp://localhost:%d {\n\tmetrics\n}\n", metricsPort)
	cfgPath := filepath.Join(t.TempDir(), "Caddyfile")
	faultWriteFile(t, cfgPath, cfg.String())
	clusterStart(t, bin, cfgPath, sites[0].port)
	metricsURL := fmt.Sprintf("http://localhost:%d/metrics", metricsPort)
	waitFor(t, metricsURL)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	for _, s := range sites {
		url := fmt.Sprintf("http://localhost:%d/", s.port)
		if r := sendRequest(client, http.MethodGet, url, s.valid, ""); r.status != 200 || r.body != "ok alice" {
			t.Fatalf("IdP %s healthy, valid token: %v", s.name, r)
		}
	}

	// Load: valid tokens on all three sites, from the start to the end.
	var (
		stop    atomic.Bool
		mu      sync.Mutex
		load    faultTally
		wg      sync.WaitGroup
		outage  atomic.Bool
		inOut   atomic.Int64 // valid requests answered during the outage
		workers = 3
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local faultTally
			for i := w; !stop.Load(); i++ {
				s := sites[i%len(sites)]
				r := sendRequest(client, http.MethodGet, fmt.Sprintf("http://localhost:%d/", s.port), s.valid, "")
				local.sent++
				local.slowest = max(local.slowest, r.took)
				switch {
				case r.err != nil:
					local.transport++
					local.note(r, "IdP "+s.name+": ")
				case r.status != 200 || r.body != "ok alice":
					local.wrong++
					local.note(r, "IdP "+s.name+": ")
				default:
					local.ok++
				}
				if outage.Load() {
					inOut.Add(1)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			load.add(local)
		}()
	}
	time.Sleep(time.Second)

	// The outage: every IdP fails its own way at once.
	m0 := faultScrape(t, metricsURL)
	hits0 := [2]int64{sites[0].idp.hits.Load(), sites[1].idp.hits.Load()}
	sites[0].idp.mode.Store(faultIdP500)
	sites[1].idp.mode.Store(faultIdPHang)
	sites[2].idp.srv.Close()
	outage.Store(true)

	// Unknown kids, four a second to each site, for 11 s: longer than the
	// hanging IdP's fetch may take. Each is answered on its own goroutine,
	// so that the ones waiting on the hanging refetch do not hold the
	// others back.
	type answer struct {
		site string
		r    reply
	}
	answers := make(chan answer, 1000)
	var unknownWG sync.WaitGroup
	outageStart := time.Now()
	for time.Since(outageStart) < 11*time.Second {
		for _, s := range sites {
			unknownWG.Add(1)
			go func() {
				defer unknownWG.Done()
				answers <- answer{s.name, sendRequest(client, http.MethodGet, fmt.Sprintf("http://localhost:%d/", s.port), s.unknown, "")}
			}()
		}
		time.Sleep(250 * time.Millisecond)
	}
	unknownWG.Wait()
	close(answers)
	outage.Store(false)
	stop.Store(true)
	wg.Wait()
	m1 := faultScrape(t, metricsURL)

	t.Logf("valid tokens: sent %d, ok %d, wrong %d, transport errors %d, %d during the outage; slowest %v",
		load.sent, load.ok, load.wrong, load.transport, inOut.Load(), load.slowest.Round(time.Millisecond))
	if load.wrong > 0 || load.transport > 0 || load.ok == 0 {
		t.Errorf("valid tokens with known kids: %d refused and %d transport errors of %d; first: %q",
			load.wrong, load.transport, load.sent, append(load.samples, load.errs...))
	}
	if inOut.Load() < 10 {
		t.Errorf("only %d valid requests were answered during the outage: the load did not run through it", inOut.Load())
	}
	if load.slowest > faultNoHang {
		t.Errorf("a valid token with a known kid waited %v (no-hang bound %v): it waited on the IdP", load.slowest, faultNoHang)
	}

	perSite := map[string]*faultTally{}
	for a := range answers {
		c := perSite[a.site]
		if c == nil {
			c = new(faultTally)
			perSite[a.site] = c
		}
		c.sent++
		c.slowest = max(c.slowest, a.r.took)
		if a.r.err == nil && a.r.status == 401 &&
			strings.Contains(a.r.header.Get("WWW-Authenticate"), `error_description="unknown signing key"`) {
			c.ok++
		} else {
			c.wrong++
			c.note(a.r, "")
		}
	}
	for _, s := range sites {
		c := perSite[s.name]
		t.Logf("IdP %s: %d unknown-kid tokens, %d refused with 401, slowest %v", s.name, c.sent, c.ok, c.slowest.Round(time.Millisecond))
		if c.wrong > 0 {
			t.Errorf("IdP %s: %d unknown-kid tokens not answered 401 \"unknown signing key\"; first: %q", s.name, c.wrong, append(c.samples, c.errs...))
		}
		// The ones that arrived while the refetch hung waited for it, and
		// no longer than the 10 s fetch timeout (plus a generous margin).
		if c.slowest > 10*time.Second+faultNoHang {
			t.Errorf("IdP %s: an unknown-kid token waited %v: past the 10 s fetch timeout", s.name, c.slowest)
		}
	}
	if c := perSite["hang"]; c.slowest < 5*time.Second {
		t.Errorf("no unknown-kid token waited on the hanging IdP (slowest %v): the hang was not exercised", c.slowest)
	}

	// One refetch per source in the whole outage: the IdPs that can count
	// saw one request each, and the fetch errors went up by one per source.
	for i, s := range sites[:2] {
		if got := s.idp.hits.Load() - hits0[i]; got != 1 {
			t.Errorf("IdP %s saw %d fetches during the outage, want 1 (one refetch a minute)", s.name, got)
		}
	}
	errs := `caddy_jwt_auth_jwks_fetches_total{result="error"}`
	if d := m1[errs] - m0[errs]; d != float64(len(sites)) {
		t.Errorf("%s went up by %v during the outage, want %d (one failed refetch per source)", errs, d, len(sites))
	}
}

// faultScrape reads the caddy_jwt_auth_* series from a metrics handler.
func faultScrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	r := sendRequest(&http.Client{Timeout: 10 * time.Second}, http.MethodGet, url, "", "")
	if r.err != nil || r.status != 200 {
		t.Fatalf("scraping %s: %v", url, r)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "caddy_jwt_auth_") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Read-only storage

// faultSandbox is a world-readable folder with a copy of the binary, for a
// Caddy process that runs as an unprivileged user (nobody) when the test
// runs as root: root ignores file permissions, so a read-only storage
// folder would not be read-only to it. When the test is not root, the
// process runs as the test's own user, and plain permissions work.
type faultSandbox struct {
	root string
	bin  string
	cred *syscall.Credential // nil: the test's own user
}

const faultNobody = 65534

func newFaultSandbox(t *testing.T, bin string) *faultSandbox {
	t.Helper()
	root, err := os.MkdirTemp("", "caddyjwt-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		faultWritable(t, root, true) // a read-only folder cannot be removed otherwise
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &faultSandbox{root: root, bin: filepath.Join(root, "caddy")}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		s.cred = &syscall.Credential{Uid: faultNobody, Gid: faultNobody}
		cmd := exec.Command(s.bin, "version")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			msg := fmt.Sprintf("cannot run Caddy as uid %d: %v\n%s", faultNobody, err, out)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return s
}

// dir makes a folder that the process's user owns.
func (s *faultSandbox) dir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(s.root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs Caddy on cfg as the sandbox's user, its data and config
// folders (XDG) its own.
func (s *faultSandbox) start(t *testing.T, cfg string, port int) *clusterNode {
	t.Helper()
	home := s.dir(t, fmt.Sprintf("home-%d", time.Now().UnixNano()))
	return startNode(t, s.bin, cfg, port, s.cred, "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
}

// faultWritable takes write permission away from everything under dir
// (chmod -R a-w), or gives the owner's back (chmod -R u+w).
func faultWritable(t *testing.T, dir string, writable bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() &^ 0o222
		if writable {
			mode = info.Mode().Perm() | 0o200
		}
		return os.Chmod(p, mode)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// TestFaultReadOnlyStorage makes the storage folder read-only under a
// running instance: logins, refreshes and logouts fail cleanly with 503
// (no token issued, nothing half-made), while validation keeps working and
// revocations made before stay enforced. With write permission back,
// nothing stored before was lost, also across a restart. A start on a
// read-only storage is checked with and without a key stored.
func TestFaultReadOnlyStorage(t *testing.T) {
	bin := buildCaddy(t)
	box := newFaultSandbox(t, bin)
	hash := bcryptHash(t, clusterPassword, bcrypt.MinCost)
	storage := box.dir(t, "storage")
	cfg := filepath.Join(box.root, "Caddyfile")
	faultWriteFile(t, cfg, faultReadConfig(t, storage, hash))
	port := faultPort(41)
	node := box.start(t, cfg, port)
	node.wait(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := func(path string) string { return node.base + path }

	kids := node.jwks(t)
	kept := node.login(t) // its refresh token is spent only after the storage is writable again
	live := node.login(t) // used and logged out while the storage is read-only
	gone := node.login(t) // logged out before
	if status, body := node.post(t, "/logout", gone.AccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("logout: %d %q", status, body)
	}
	node.expect(t, "logged out before", gone.AccessToken, 401)

	faultWritable(t, storage, false)
	if box.cred == nil { // the process is the test's own user: check from here
		if err := os.WriteFile(filepath.Join(storage, "probe"), nil, 0o600); err == nil {
			t.Fatal("the storage folder is still writable after chmod a-w")
		}
	}

	t.Run("ReadOnly", func(t *testing.T) {
		// Each 503 is a Caddy HTTP error, like the endpoints' 413, 415
		// and 429: its body is what handle_errors makes of it (empty by
		// default), and it never carries a token or sets a token cookie.
		r := sendRequest(client, http.MethodPost, url("/login"), "", `{"username":"alice","password":"`+clusterPassword+`"}`)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("login on read-only storage: %v, want 503", r)
		}
		if c := faultTokenCookie(r.header); c != "" || strings.Contains(r.body, "access_token") {
			t.Errorf("the refused login issued a token (cookie %q, body %q)", c, r.body)
		}
		r = sendRequest(client, http.MethodPost, url("/refresh"), "", `{"refresh_token":"`+kept.RefreshToken+`"}`)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("refresh on read-only storage: %v, want 503", r)
		}
		if c := faultTokenCookie(r.header); c != "" || strings.Contains(r.body, "access_token") || len(r.header.Values("Set-Cookie")) > 0 {
			t.Errorf("the refused refresh set cookies %q or issued a token (body %q)", r.header.Values("Set-Cookie"), r.body)
		}
		// A logout that cannot be stored is reported and not half-made:
		// the token is not revoked on this instance only, and the
		// cookies are not cleared, so that the client knows to try
		// again.
		r = sendRequest(client, http.MethodPost, url("/logout"), live.AccessToken, "")
		if r.status != http.StatusServiceUnavailable || len(r.header.Values("Set-Cookie")) > 0 {
			t.Errorf("logout on read-only storage: %v, cookies %q; want 503 and no cookie cleared", r, r.header.Values("Set-Cookie"))
		}
		// The revocation sync runs every 3 s: check twice, the second
		// time after a sync has read the read-only storage.
		for _, round := range []string{"at once", "after a revocation sync"} {
			node.expect(t, "access token issued before, "+round, live.AccessToken, 200)
			node.expect(t, "other access token issued before, "+round, kept.AccessToken, 200)
			r = sendRequest(client, http.MethodGet, url("/"), gone.AccessToken, "")
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error_description="token revoked"`) {
				t.Errorf("token logged out before, %s: %v, want 401 token revoked", round, r)
			}
			if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
				t.Errorf("JWKS %s: %v, want %v", round, got, kids)
			}
			if round == "at once" {
				time.Sleep(syncInterval + 500*time.Millisecond)
			}
		}
	})

	faultWritable(t, storage, true)
	t.Run("WritableAgain", func(t *testing.T) {
		status, body := node.refresh(t, kept.RefreshToken)
		if status != 200 {
			t.Fatalf("refresh with a refresh token issued before the read-only time: %d %q, want 200", status, body)
		}
		if err := json.Unmarshal([]byte(body), &kept); err != nil {
			t.Fatal(err)
		}
		node.login(t)
		if status, body := node.post(t, "/logout", live.AccessToken, ""); status != http.StatusNoContent {
			t.Errorf("logout once writable again: %d %q, want 204", status, body)
		}
	})

	t.Run("Restart", func(t *testing.T) {
		node.stop()
		node = box.start(t, cfg, port)
		node.wait(t)
		if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
			t.Errorf("JWKS after restart: %v, want %v (the same key auto key)", got, kids)
		}
		node.expectNow(t, "logged out before the read-only time", gone.AccessToken, 401)
		node.expectNow(t, "logged out after it", live.AccessToken, 401)
		node.expectNow(t, "refreshed after it", kept.AccessToken, 200)
		if status, body := node.refresh(t, kept.RefreshToken); status != 200 {
			t.Errorf("refresh after restart: %d %q, want 200", status, body)
		}
	})

	// A restart on a read-only storage that holds the key: the instance
	// starts and validates, as a verifier on a read-only copy of a
	// cluster's storage would; logins fail with 503 as above.
	t.Run("StartReadOnlyWithKey", func(t *testing.T) {
		node.stop()
		faultWritable(t, storage, false)
		defer faultWritable(t, storage, true)
		node = box.start(t, cfg, port)
		faultWaitOrExit(t, node)
		if got := node.jwks(t); strings.Join(got, " ") != strings.Join(kids, " ") {
			t.Errorf("JWKS on a read-only start: %v, want %v", got, kids)
		}
		node.expectNow(t, "logged out before", gone.AccessToken, 401)
		node.expectNow(t, "live token", kept.AccessToken, 200)
		r := sendRequest(client, http.MethodPost, url("/login"), "", `{"username":"alice","password":"`+clusterPassword+`"}`)
		if r.status != http.StatusServiceUnavailable || faultTokenCookie(r.header) != "" {
			t.Errorf("login on a read-only start: %v, want 503 without a token", r)
		}
		node.stop()
	})

	// A first start on a read-only storage: there is no key and none can
	// be made (making one takes the storage lock, a write), so the config
	// does not load, with an error that says so and names the storage.
	t.Run("StartReadOnlyNoKey", func(t *testing.T) {
		empty := box.dir(t, "empty-storage")
		faultWritable(t, empty, false)
		cfg2 := filepath.Join(box.root, "Caddyfile.empty")
		faultWriteFile(t, cfg2, faultReadConfig(t, empty, hash))
		n := box.start(t, cfg2, faultPort(42))
		var err error
		n.once.Do(func() { // instead of stop: wait for the process to end by itself
			done := make(chan error, 1)
			go func() { done <- n.cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
				<-done
				err = errors.New("still running after 20 s")
			}
		})
		if err == nil || strings.Contains(err.Error(), "still running") {
			t.Fatalf("caddy run on a read-only empty storage: %v; want it to exit with an error", err)
		}
		logs := n.logs.String()
		if !strings.Contains(logs, "key auto ES256: no key in storage yet, making one: locking storage") || !strings.Contains(logs, empty) {
			t.Errorf("the load error does not say that key auto found no key and could not lock the storage at %s:\n%s", empty, logs)
		}
		if _, msg, ok := strings.Cut(logs, "provision http.handlers.jwt_auth: "); ok {
			msg, _, _ = strings.Cut(msg, "\n")
			t.Logf("load error: %s", strings.TrimSuffix(msg, `"}`))
		}
	})
}

// faultReadOnlyStorage is a storage that refuses every write, as a
// read-only mount does; reads go to the folder beneath.
type faultReadOnlyStorage struct{ *certmagic.FileStorage }

var errFaultReadOnly = errors.New("read-only file system")

func (faultReadOnlyStorage) Store(context.Context, string, []byte) error { return errFaultReadOnly }
func (faultReadOnlyStorage) Delete(context.Context, string) error        { return errFaultReadOnly }
func (faultReadOnlyStorage) Lock(context.Context, string) error          { return errFaultReadOnly }
func (faultReadOnlyStorage) Unlock(context.Context, string) error        { return errFaultReadOnly }

// TestFaultAutoKeyReadOnlyStorage: key auto on a storage that refuses
// writes loads the stored key (no lock is needed to read it); a rotation
// that falls due fails and keeps the keys in use; with no key stored, the
// error says that one could not be made.
func TestFaultAutoKeyReadOnlyStorage(t *testing.T) {
	ctx := context.Background()
	clock := faultFreezeClock(t)
	files := &certmagic.FileStorage{Path: t.TempDir()}
	writer := &autoKeys{alg: "ES256", rotate: time.Hour, keep: time.Hour, storage: files}
	if err := writer.load(ctx); err != nil {
		t.Fatal(err)
	}
	kid := writer.keys()[0].kid

	ro := &autoKeys{alg: "ES256", rotate: time.Hour, keep: time.Hour, storage: faultReadOnlyStorage{files}}
	if err := ro.load(ctx); err != nil {
		t.Fatalf("loading the stored key from a read-only storage: %v", err)
	}
	if k := ro.keys(); len(k) != 1 || k[0].kid != kid || k[0].signer == nil {
		t.Fatalf("read-only load got %v, want the stored signing key %s", kidsOf(k), kid)
	}
	clock.at(time.Hour, func() {
		err := ro.load(ctx)
		if err == nil || !strings.Contains(err.Error(), "locking storage") {
			t.Errorf("a rotation due on a read-only storage: %v, want a locking error", err)
		}
	})
	if k := ro.keys(); len(k) != 1 || k[0].kid != kid {
		t.Errorf("after the failed rotation the keys are %v, want %s kept", kidsOf(k), kid)
	}

	empty := &autoKeys{alg: "ES256", storage: faultReadOnlyStorage{&certmagic.FileStorage{Path: t.TempDir()}}}
	if err := empty.load(ctx); err == nil || !strings.Contains(err.Error(), "no key in storage yet, making one: locking storage: read-only file system") {
		t.Errorf("no key on a read-only storage: %v", err)
	}
}

// faultReadConfig is clusterConfig's Caddyfile, written where the
// sandbox's user can read it.
func faultReadConfig(t *testing.T, storage, hash string) string {
	t.Helper()
	data, err := os.ReadFile(clusterConfig(t, storage, "key auto", hash))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// faultWaitOrExit waits until the instance answers, failing at once if
// the process exits first.
func faultWaitOrExit(t *testing.T, n *clusterNode) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 300; i++ {
			if resp, err := http.Get(n.base + "/jwks"); err == nil {
				resp.Body.Close()
				done <- nil
				return
			}
			// Exited: a zombie (state Z) until stop reaps it.
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid)); err == nil {
				if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "Z") {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- errors.New("not answering")
	}()
	if err := <-done; err != nil {
		t.Fatalf("caddy %s is %v; output:\n%s", n.name, err, n.logs.String())
	}
}

// ---------------------------------------------------------------------------
// Clock skew

// faultClock freezes the package clock at a whole second, moved by an
// offset: one instance's clock is set apart by changing the offset while
// it mints, and back before the other validates. Nothing sleeps across a
// boundary, so boundaries are tested to the second.
type faultClock struct {
	base   time.Time
	offset atomic.Int64
}

// faultFreezeClock replaces the clock for the test. Call it before
// provisioning, so that the handlers' background work is stopped before
// the clock is put back.
func faultFreezeClock(t *testing.T) *faultClock {
	c := &faultClock{base: time.Unix(time.Now().Unix(), 0)}
	orig := now
	now = func() time.Time { return c.base.Add(time.Duration(c.offset.Load())) }
	t.Cleanup(func() { now = orig })
	return c
}

// at runs fn with the clock skew apart from true time.
func (c *faultClock) at(skew time.Duration, fn func()) {
	c.offset.Store(int64(skew))
	defer c.offset.Store(0)
	fn()
}

// faultLogin logs in on h, JSON, and returns the tokens.
func faultLogin(t *testing.T, h *Handler) clusterTokens {
	t.Helper()
	return faultTokens(t, h, "/login", `{"username":"alice","password":"`+clusterPassword+`"}`)
}

// faultTokens posts JSON to one of h's endpoints and reads the tokens.
func faultTokens(t *testing.T, h *Handler, path, body string) clusterTokens {
	t.Helper()
	tok, status := faultTryTokens(t, h, path, body)
	if status != 200 {
		t.Fatalf("POST %s: %d", path, status)
	}
	return tok
}

func faultTryTokens(t *testing.T, h *Handler, path, body string) (clusterTokens, int) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://example.com"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	res := serveWith(t, h, w, r)
	var tok clusterTokens
	if res.status == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("POST %s answered %q: %v", path, w.Body.String(), err)
		}
	}
	return tok, res.status
}

// faultVerdict is what h answers to a bearer token now: "ok", or the
// refusal's reason (expired, not_yet_valid...).
func faultVerdict(t *testing.T, h *Handler, tok string) string {
	t.Helper()
	res := serve(t, h, bearer(tok))
	if res.status == 0 {
		return "ok"
	}
	if res.status != http.StatusUnauthorized {
		return fmt.Sprintf("status %d", res.status)
	}
	return res.repl.ReplaceAll("{http.auth.jwt_auth.error}", "")
}

// TestFaultClockSkew holds the leeway to the second between instances
// whose clocks disagree: two handlers on one storage (one cluster, one
// key auto key), one minting while its clock is ahead or behind, the
// other validating; tokens made by `caddy jwt sign` on a machine whose
// clock is off, with exp, nbf and iat each the only claim out of line;
// and a validator whose own clock steps back or forward after it has
// cached a token. With the default leeway (30s) and `leeway 2m`.
func TestFaultClockSkew(t *testing.T) {
	clock := faultFreezeClock(t)
	hash := bcryptHash(t, clusterPassword, bcrypt.MinCost)
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		line   string
	}{
		{"DefaultLeeway", 30 * time.Second, ""},
		{"Leeway2m", 2 * time.Minute, "leeway 2m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ttl = time.Minute
			storage := t.TempDir()
			block := fmt.Sprintf("jwt_auth {\n key auto\n login /login\n refresh /refresh\n access_ttl 1m\n user alice %s\n %s\n}", hash, tc.line)
			a := mustProvisionOn(t, storage, block) // mints, its clock off
			b := mustProvisionOn(t, storage, block) // validates, on time
			lw := tc.leeway
			expect := func(what, tok, want string) {
				t.Helper()
				if got := faultVerdict(t, b, tok); got != want {
					t.Errorf("%s: %s, want %s", what, got, want)
				}
			}

			// Logins on A, A's clock off; the tokens used on B.
			for _, c := range []struct {
				skew time.Duration
				want string
			}{
				{lw, "ok"},                          // iat = nbf = leeway ahead: just within
				{lw + time.Second, "not_yet_valid"}, // a second beyond
				{-(ttl + lw) + time.Second, "ok"},   // exp = leeway - 1 s ago
				{-(ttl + lw), "expired"},            // exp = leeway ago: the first second refused
			} {
				var tok clusterTokens
				clock.at(c.skew, func() { tok = faultLogin(t, a) })
				expect(fmt.Sprintf("access token from an instance %v off", c.skew), tok.AccessToken, c.want)
				// Its refresh token (TTL 168h) on B: only a clock
				// ahead can spoil it.
				_, status := faultTryTokens(t, b, "/refresh", `{"refresh_token":"`+tok.RefreshToken+`"}`)
				wantStatus := 200
				if c.skew > lw {
					wantStatus = 401
				}
				if status != wantStatus {
					t.Errorf("refresh token from an instance %v off, spent on B: %d, want %d", c.skew, status, wantStatus)
				}
			}

			// caddy jwt sign, with the cluster's key, on a machine whose
			// clock is off; each time claim alone out of line.
			keyFile := filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem")
			base := clock.base.Unix()
			sign := func(skew time.Duration, claims string) string {
				var tok string
				clock.at(skew, func() {
					tok = cmdSignToken(t, "--key", keyFile, "--sub", "alice", "--ttl", "1m", "--claims", claims)
				})
				return tok
			}
			longAgo, later := base-3600, base+3600
			for _, c := range []struct {
				claim  string
				skew   time.Duration
				claims string
			}{
				{"iat", lw, fmt.Sprintf(`{"nbf":%d,"exp":%d}`, longAgo, later)},
				{"nbf", lw, fmt.Sprintf(`{"iat":%d,"exp":%d}`, longAgo, later)},
				{"exp", -(ttl + lw), fmt.Sprintf(`{"iat":%d,"nbf":%d}`, longAgo, longAgo)},
			} {
				within, beyond := c.skew+time.Second, c.skew
				want := "expired"
				if c.skew > 0 {
					within, beyond, want = c.skew, c.skew+time.Second, "not_yet_valid"
				}
				expect(fmt.Sprintf("caddy jwt sign, clock %v off, only %s out of line", within, c.claim), sign(within, c.claims), "ok")
				expect(fmt.Sprintf("caddy jwt sign, clock %v off, only %s out of line", beyond, c.claim), sign(beyond, c.claims), want)
			}

			// B's own clock steps after B cached a token: the cache keeps
			// to the token's window with the leeway, as a full check does.
			tok := faultLogin(t, a).AccessToken // iat = nbf = base, exp = base + 1m
			expect("fresh token", tok, "ok")
			for _, c := range []struct {
				step time.Duration
				want string
			}{
				{-lw, "ok"},
				{-lw - time.Second, "not_yet_valid"},
				{ttl + lw - time.Second, "ok"},
				{ttl + lw, "expired"},
				{0, "ok"},
			} {
				clock.at(c.step, func() { expect(fmt.Sprintf("cached token, B's clock stepped %v", c.step), tok, c.want) })
			}
		})
	}
}
