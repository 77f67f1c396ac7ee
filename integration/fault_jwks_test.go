package integration

// Faults: a JWKS endpoint down, failing or hanging under load, on the
// built binary with the fake identity provider.

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
		idp     *remoteIdP
		port    int
		valid   string // a token with a kid the IdP published
		unknown string // a token with a kid no one published
	}
	var sites []*site
	for i, name := range []string{"500", "hang", "closed"} {
		kid := "idp-" + name
		key, other := remoteECKey(t, kid), remoteECKey(t, kid+"-new")
		s := &site{name: name, idp: newRemoteIdP(t, key), port: faultPort(31 + i)}
		s.valid = key.sign(t, claims("alice", nil))
		s.unknown = other.sign(t, claims("mallory", nil)) // its kid is published nowhere
		sites = append(sites, s)
	}
	metricsPort := faultPort(34)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s\n}\n", storageDir(t))
	for _, s := range sites {
		fmt.Fprintf(&cfg, "\nhttp://localhost:%d {\n\tjwt_auth {\n\t\tjwks %s\n\t}\n\trespond \"ok {http.auth.user.id}\"\n}\n", s.port, s.idp.JWKSURL())
	}
	fmt.Fprintf(&cfg, "\nhttp://localhost:%d {\n\tmetrics\n}\n", metricsPort)
	cfgPath := filepath.Join(t.TempDir(), "Caddyfile")
	faultWriteFile(t, cfgPath, cfg.String())
	runNode(t, bin, cfgPath, sites[0].port)
	metricsURL := fmt.Sprintf("http://localhost:%d/metrics", metricsPort)
	waitFor(t, metricsURL)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	for _, s := range sites {
		url := fmt.Sprintf("http://localhost:%d/", s.port)
		if r := sendRequest(client, http.MethodGet, url, s.valid, ""); r.Status != 200 || r.Body != "ok alice" {
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
				case r.Status != 200 || r.Body != "ok alice":
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
	m0 := scrapeMetrics(t, metricsURL)
	hits0 := [2]int64{sites[0].idp.jwksHits.Load(), sites[1].idp.jwksHits.Load()}
	sites[0].idp.behave(func(b *remoteIdPBehaviour) {
		b.status, b.body = http.StatusInternalServerError, []byte("down for maintenance")
	})
	sites[1].idp.behave(func(b *remoteIdPBehaviour) { b.delay = time.Hour }) // hangs until the fetch gives up
	sites[2].idp.close()
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
	m1 := scrapeMetrics(t, metricsURL)

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
		if a.r.err == nil && a.r.Status == 401 &&
			strings.Contains(a.r.Header.Get("WWW-Authenticate"), `error_description="unknown signing key"`) {
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
		// no longer than 3 s (plus a generous margin): the fetch goes on
		// in the background.
		if c.slowest > 3*time.Second+faultNoHang {
			t.Errorf("IdP %s: an unknown-kid token waited %v: past the 3 s a request may wait for a refetch", s.name, c.slowest)
		}
	}
	if c := perSite["hang"]; c.slowest < 2500*time.Millisecond {
		t.Errorf("no unknown-kid token waited on the hanging IdP (slowest %v): the hang was not exercised", c.slowest)
	}

	// One refetch per source in the whole outage: the IdPs that can count
	// saw one request each, and the fetch errors went up by one per source.
	for i, s := range sites[:2] {
		if got := s.idp.jwksHits.Load() - hits0[i]; got != 1 {
			t.Errorf("IdP %s saw %d fetches during the outage, want 1 (one refetch a minute)", s.name, got)
		}
	}
	errs := `caddy_jwt_auth_jwks_fetches_total{result="error"}`
	if d := m1[errs] - m0[errs]; d != float64(len(sites)) {
		t.Errorf("%s went up by %v during the outage, want %d (one failed refetch per source)", errs, d, len(sites))
	}
}
