package integration

// The one fake identity provider of the suites (an httptest server on
// loopback serving an OpenID discovery document and a JWK set, whose
// behaviour a test changes while Caddy runs: failing, hanging, closed),
// its key pairs and tokens signed with them, Caddyfiles with the metrics
// handler, and the one reader of the plugin's Prometheus counters. The
// remote-key suites (remote_*_test.go), the fault tests and the attack
// tests use them. Remote helpers start with "remote".

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// remoteHMAC is a 64-byte HMAC secret for the local-key parts of a config.
const remoteHMAC = "remote-hmac-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"

// ---------------------------------------------------------------------------
// keys and tokens

// remoteKey is a key pair the fake IdP publishes (its public half) and
// tests sign with (its private half).
type remoteKey struct {
	kid    string
	alg    string // the JWK's alg; "" publishes none
	use    string // the JWK's use; "" publishes none
	priv   crypto.Signer
	method jwt.SigningMethod // what sign uses
}

func remoteRSAKey(t *testing.T, kid string) remoteKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return remoteKey{kid: kid, alg: "RS256", use: "sig", priv: k, method: jwt.SigningMethodRS256}
}

func remoteECKey(t *testing.T, kid string) remoteKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return remoteKey{kid: kid, alg: "ES256", use: "sig", priv: k, method: jwt.SigningMethodES256}
}

func remoteEdKey(t *testing.T, kid string) remoteKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return remoteKey{kid: kid, alg: "EdDSA", use: "sig", priv: k, method: jwt.SigningMethodEdDSA}
}

// publicJWK is the JWK the IdP publishes for k.
func (k remoteKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: k.use}
}

// remoteClaims are valid claims for sub (see claims), with iss when given;
// extra claims are merged in (a nil value deletes).
func remoteClaims(sub, iss string, extra map[string]any) jwt.MapClaims {
	m := map[string]any{}
	if iss != "" {
		m["iss"] = iss
	}
	maps.Copy(m, extra)
	return claims(sub, m)
}

// sign makes a token with k's method, header kid = k.kid.
func (k remoteKey) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	return k.signWith(t, k.method, k.kid, c)
}

// signWith makes a token with k's private key, the given method and kid
// ("" leaves kid out).
func (k remoteKey) signWith(t *testing.T, m jwt.SigningMethod, kid string, c jwt.MapClaims) string {
	t.Helper()
	var hdr map[string]any
	if kid != "" {
		hdr = map[string]any{"kid": kid}
	}
	return mint(t, m, k.priv, c, hdr)
}

// remoteHS signs claims with remoteHMAC (HS256).
func remoteHS(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	return mint(t, jwt.SigningMethodHS256, []byte(remoteHMAC), c, nil)
}

// ---------------------------------------------------------------------------
// the fake identity provider

// remoteIdPBehaviour is how the IdP answers /jwks right now.
type remoteIdPBehaviour struct {
	keys         []remoteKey
	private      bool          // publish private halves too (a misconfigured IdP)
	status       int           // 0: 200
	body         []byte        // served instead of the JWK set when non-nil
	padTo        int           // pad the JWK set JSON to exactly this many bytes
	delay        time.Duration // before answering
	cacheControl string        // Cache-Control header, if any
	hangup       bool          // close the connection without an answer
	issuer       string        // discovery issuer; "" is the IdP's own URL
}

// remoteIdP is a fake OpenID provider on loopback. It serves
// /.well-known/openid-configuration and /jwks and counts requests per path.
type remoteIdP struct {
	srv       *httptest.Server
	mu        sync.Mutex
	b         remoteIdPBehaviour
	jwksHits  atomic.Int64
	discHits  atomic.Int64
	otherHits atomic.Int64
	done      chan struct{} // closed when the test ends
}

func newRemoteIdP(t *testing.T, keys ...remoteKey) *remoteIdP {
	t.Helper()
	idp := &remoteIdP{done: make(chan struct{})}
	idp.b.keys = keys
	idp.srv = httptest.NewUnstartedServer(http.HandlerFunc(idp.serve))
	// No keep-alives: Caddy's fetches leave no idle connection behind
	// (the fault tests count Caddy's goroutines), and closing the IdP
	// refuses the next fetch at once.
	idp.srv.Config.SetKeepAlivesEnabled(false)
	idp.srv.Start()
	t.Cleanup(func() {
		close(idp.done) // lets a delayed (hanging) answer go
		idp.srv.Close()
	})
	return idp
}

// URL is the IdP's base URL (its issuer): http://127.0.0.1:<port>.
func (idp *remoteIdP) URL() string { return idp.srv.URL }

// JWKSURL is where the JWK set is served.
func (idp *remoteIdP) JWKSURL() string { return idp.srv.URL + "/jwks" }

// behave changes how the IdP answers from now on.
func (idp *remoteIdP) behave(change func(b *remoteIdPBehaviour)) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	change(&idp.b)
}

func (idp *remoteIdP) behaviour() remoteIdPBehaviour {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	b := idp.b
	b.keys = append([]remoteKey(nil), b.keys...)
	return b
}

// close takes the IdP down: its port refuses connections from now on.
func (idp *remoteIdP) close() { idp.srv.Close() }

func (idp *remoteIdP) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		idp.discHits.Add(1)
		b := idp.behaviour()
		iss := b.issuer
		if iss == "" {
			iss = idp.srv.URL
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": idp.srv.URL + "/jwks"})
	case "/jwks":
		idp.jwksHits.Add(1)
		idp.serveJWKS(w, r)
	default:
		idp.otherHits.Add(1)
		http.NotFound(w, r)
	}
}

func (idp *remoteIdP) serveJWKS(w http.ResponseWriter, r *http.Request) {
	b := idp.behaviour()
	if b.delay > 0 {
		select {
		case <-time.After(b.delay):
		case <-r.Context().Done():
			return
		case <-idp.done:
			return
		}
	}
	if b.hangup {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	body := b.body
	if body == nil {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
		for _, k := range b.keys {
			jwk := k.publicJWK()
			if b.private {
				jwk.Key = k.priv
			}
			set.Keys = append(set.Keys, jwk)
		}
		var err error
		if body, err = json.Marshal(set); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if overhead := len(`,"pad":""`); b.padTo >= len(body)+overhead {
			// {"keys":[...],"pad":"xxxx"}: still a valid JWK set, of
			// exactly padTo bytes.
			pad := strings.Repeat("x", b.padTo-len(body)-overhead)
			body = append(body[:len(body)-1], []byte(`,"pad":"`+pad+`"}`)...)
		}
	}
	if b.cacheControl != "" {
		w.Header().Set("Cache-Control", b.cacheControl)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ---------------------------------------------------------------------------
// Caddy

// remoteSite is a whole Caddyfile: a storage folder of the test's own, and
// one site on baseURL with the metrics handler at /metrics, the given
// routes, and errors rendered as the jwt_auth reason placeholder with
// their status.
func remoteSite(t *testing.T, routes string) string {
	t.Helper()
	return siteConfigWith(globalOptions(keyDir(t)), `	handle /metrics {
		metrics
	}
`+routes+errorsBlock)
}

// remoteGuard is a Caddyfile whose site is guarded by one jwt_auth block
// with the given subdirectives (one per line), answering "ok <sub>".
func remoteGuard(t *testing.T, subdirectives ...string) string {
	t.Helper()
	return remoteSite(t, `
	handle {
		jwt_auth {
			`+strings.Join(subdirectives, "\n\t\t\t")+`
		}
		respond "ok {http.auth.user.id}" 200
	}
`)
}

// ---------------------------------------------------------------------------
// metrics

// remoteSeries names one counter series as Prometheus' text format
// writes it: caddy_jwt_auth_<name>{result="<result>"}.
func remoteSeries(name, result string) string {
	return "caddy_jwt_auth_" + name + `{result="` + result + `"}`
}

// scrapeMetrics reads the caddy_jwt_auth_* series from url (the site's
// metrics handler, or the admin endpoint's).
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: status %d", url, resp.StatusCode)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_jwt_auth_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scraping %s: bad line %q", url, line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	return out
}
