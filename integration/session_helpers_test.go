package integration

// Browser sessions against the built Caddy: a portal and app sites on
// host names of their own (auth.example.test, app.example.test, ...),
// reached on loopback through a dialer that maps them to 127.0.0.1, and
// clients that keep cookies as a browser does.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sessionPort is the port every site of the session suites listens on.
var sessionPort = faultPort(50)

// sessionDomain is the parent domain of the test host names; the portal's
// cookies are set for it.
const sessionDomain = "example.test"

// siteURL is the URL of path on a test host ("auth", "app", ...).
func siteURL(host, path string) string {
	return fmt.Sprintf("http://%s.%s:%d%s", host, sessionDomain, sessionPort, path)
}

// sessionTransport dials every *.example.test host on 127.0.0.1.
func sessionTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, "."+sessionDomain) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}
}

// visitor is a browser without JavaScript: a cookie jar, redirects
// followed (at most 10, as Go's client and roughly as browsers), and
// Accept: text/html on every navigation.
type visitor struct {
	t      *testing.T
	client *http.Client
}

// visit is the end of one navigation: the final answer, and every URL
// the browser was sent through on the way.
type visit struct {
	status int
	url    string
	body   string
	chain  []string
}

// form tells whether the visit ended on the login form.
func (v visit) form() bool { return strings.Contains(v.body, `name="password"`) }

func (v visit) String() string {
	return fmt.Sprintf("%d at %s via %v: %s", v.status, v.url, v.chain, shorten(v.body, 200))
}

func newVisitor(t *testing.T) *visitor {
	jar, err := cookiejar.New(nil) // no public suffix list: example.test may hold cookies
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, client: &http.Client{Jar: jar, Transport: sessionTransport(), Timeout: 10 * time.Second}}
}

// navigate GETs target as a browser does, following redirects.
func (v *visitor) navigate(target string) visit {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	return v.send(req)
}

// postForm submits a form as a browser does, following redirects.
func (v *visitor) postForm(target string, kv ...string) visit {
	v.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.send(req)
}

func (v *visitor) send(req *http.Request) visit {
	v.t.Helper()
	var chain []string
	c := *v.client
	c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		r.Header.Set("Accept", "text/html")
		chain = append(chain, r.URL.String())
		if len(via) >= 10 {
			return fmt.Errorf("redirect loop: %v", chain)
		}
		return nil
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return visit{status: resp.StatusCode, url: resp.Request.URL.String(), body: string(b), chain: chain}
}

// cookie is the value of the jar's cookie name for target, "" without one.
func (v *visitor) cookie(target, name string) string {
	u, _ := url.Parse(target)
	for _, c := range v.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// signIn signs alice in with the portal's form and checks she lands on
// returnTo.
func (v *visitor) signIn(returnTo, wantURL string) {
	v.t.Helper()
	got := v.postForm(siteURL("auth", "/auth/login"), "username", "alice", "password", nodePassword, "return", returnTo)
	if got.status != http.StatusOK || got.url != wantURL || got.form() {
		v.t.Fatalf("signing in: %s, want 200 at %s", got, wantURL)
	}
}

// postJSON POSTs a JSON body with a client of its own (no cookies).
func postJSON(t *testing.T, target string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: sessionTransport(), Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// sessionSites runs the built Caddy with a portal (auth.example.test:
// login, refresh and logout under /auth/, the portal's own page /page,
// cookies for example.test, trusted_return for every *.example.test
// site), an app site (app.example.test: the portal's tokens through key
// auto on the same storage, its redirect to the portal, an echo upstream
// behind it), and a site that accepts none of the portal's tokens
// (strict.example.test: another audience), with short lifetimes. portal
// lines are added to the portal's jwt_auth. It waits until the sites
// answer.
func sessionSites(t *testing.T, portal ...string) *echoUpstream {
	t.Helper()
	bin := buildCaddy(t)
	up := echoServer(t)
	issuer := siteURL("auth", "")
	cfg := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s
}

%[2]s {
	jwt_auth {
		key auto ES256
		user alice %[3]s
		login /auth/login
		refresh /auth/refresh
		logout /auth/logout
		redirect /auth/login
		access_ttl 1s
		leeway 0s
		trusted_return http://*.%[4]s:%[5]d
		cookie {
			domain %[4]s
			insecure
		}
%[6]s
	}
	respond "portal {http.auth.user.id}"
}

%[7]s {
	jwt_auth {
		key auto ES256
		issuer %[2]s
		leeway 0s
		redirect %[2]s/auth/login
	}
	reverse_proxy %[8]s
}

%[9]s {
	jwt_auth {
		key auto ES256
		issuer %[2]s
		audience someone-else
		redirect %[2]s/auth/login
	}
	respond "strict {http.auth.user.id}"
}
`, t.TempDir(), issuer, bcryptHash(t, nodePassword), sessionDomain, sessionPort, lines(portal...),
		siteURL("app", ""), up.addr, siteURL("strict", ""))
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := runNode(t, bin, path, sessionPort)
	client := &http.Client{Transport: sessionTransport(), Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(siteURL("auth", "/auth/login"))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session sites do not answer: %v\n%s", err, n.logs)
		}
	}
	return up
}

// expireAccess waits until the access tokens issued so far (access_ttl
// 1s, exp in whole seconds, leeway 0s) have expired.
func expireAccess() { time.Sleep(2100 * time.Millisecond) }
