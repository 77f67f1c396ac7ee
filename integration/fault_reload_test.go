package integration

// Faults: `caddy reload` under load, and the goroutines left after ten
// reloads, on the built binary.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
	return reply{response: response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, took: time.Since(start)}
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
	hash := bcryptHash(t, nodePassword)
	storage := storageDir(t)
	adminPort, plainPort, guardPort := faultPort(1), faultPort(11), faultPort(12)
	admin := fmt.Sprintf("localhost:%d", adminPort)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	faultWriteFile(t, cfg, faultReloadConfig(storage, hash, adminPort, plainPort, guardPort, 0))
	node := runNode(t, bin, cfg, guardPort)
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
					good = r.Status == 200 && strings.HasPrefix(r.Body, "plain ")
				case faultValid:
					good = r.Status == 200 && strings.HasPrefix(r.Body, "ok ") && strings.HasSuffix(r.Body, " alice")
				case faultMissing:
					good = r.Status == 401 && r.Header.Get("WWW-Authenticate") == `Bearer realm="localhost"`
				case faultRevoked:
					good = r.Status == 401 && strings.Contains(r.Header.Get("WWW-Authenticate"), `error_description="token revoked"`)
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
	if r := sendRequest(nodeClient, http.MethodGet, "http://"+plainAddr+"/", "", ""); r.Status != 200 || r.Body != "plain 10" {
		t.Errorf("plain site after the reloads: %v, want 200 \"plain 10\"", r)
	}
	if r := sendRequest(nodeClient, http.MethodGet, "http://"+guardAddr+"/", valid[0], ""); r.Status != 200 || r.Body != "ok 10 alice" {
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
	r := sendRequest(nodeClient, http.MethodGet, "http://"+admin+"/debug/pprof/goroutine?debug=1", "", "")
	if r.err != nil || r.Status != 200 {
		t.Fatalf("goroutine profile: %v", r)
	}
	c := faultCount{profile: r.Body}
	first, rest, _ := strings.Cut(r.Body, "\n")
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
	storage := storageDir(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	faultWriteFile(t, users, fmt.Sprintf(`{"alice": {"password": %q}}`, bcryptHash(t, nodePassword)))
	idp := newRemoteIdP(t, remoteECKey(t, "idp-1"))
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
`, adminPort, storage, port, idp.JWKSURL(), users, gen))
	}
	write(0)
	node := runNode(t, bin, cfg, port)
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
		r := sendRequest(nodeClient, http.MethodGet, node.base+"/", node.login(t).AccessToken, "")
		if want := fmt.Sprintf("ok %d alice", gen); r.Status != 200 || r.Body != want {
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
	hitsBefore := idp.jwksHits.Load()

	for range 10 {
		reload()
		time.Sleep(200 * time.Millisecond)
	}
	// One fetcher per jwks URL per process, kept across reloads: the new
	// config takes the keys the old one fetched (at most a refresh or an
	// unknown-kid refetch may fall within the reloads).
	if got := idp.jwksHits.Load() - hitsBefore; got > 2 {
		t.Errorf("the IdP saw %d fetches during ten reloads, want none (the fetcher is kept across reloads)", got)
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
