package integration

// A real OpenID provider for the federated sign-in suites: the example
// OP of github.com/zitadel/oidc/v3 (its in-memory storage, its users
// test-user@127.0.0.1 and test-user2, password verysecure, and its login
// page), run in-process on loopback; the test site's Caddyfile with
// identity_provider blocks; and the sign-in driven over HTTP as a
// browser would, with a cookie jar. Helpers start with "fed".

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

const (
	fedClient      = "caddy-web"   // the client id the test site is configured with
	fedOtherClient = "caddy-other" // another client of the OP, same redirect URI
	fedSecret      = "web-secret-0123456789"
	fedPassword    = "verysecure"
	fedAllowed     = "test-user@127.0.0.1" // email test-user@zitadel.ch, verified: allowed
	fedRefused     = "test-user2"          // email test-user2@zitadel.ch: not allowed
)

// fedCallback is the redirect URI registered at the OP for provider test.
var fedCallback = baseURL + "/auth/login/test/callback"

// fedOP is the example OP on a loopback port of its own.
type fedOP struct {
	srv    *httptest.Server
	issuer string
	// otherAudience makes the OP serve fedOtherClient whenever the test
	// site asks for fedClient (authorize and token requests rewritten), so
	// that the ID token it issues is for another audience.
	otherAudience atomic.Bool
}

var fedClientsOnce sync.Once

// fedStartOP starts the example OP, closed when the test ends.
func fedStartOP(t *testing.T) *fedOP {
	t.Helper()
	fedClientsOnce.Do(func() { // the example keeps its clients in one global map
		storage.RegisterClients(
			storage.WebClient(fedClient, fedSecret, fedCallback),
			storage.WebClient(fedOtherClient, fedSecret, fedCallback),
		)
	})
	op := &fedOP{srv: httptest.NewUnstartedServer(nil)}
	op.issuer = "http://" + op.srv.Listener.Addr().String()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	router := exampleop.SetupServer(op.issuer, storage.NewStorage(storage.NewUserStore(op.issuer)), quiet, false)
	op.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op.otherAudience.Load() {
			fedSwapClient(r)
		}
		router.ServeHTTP(w, r)
	})
	op.srv.Start()
	t.Cleanup(op.srv.Close)
	return op
}

// fedSwapClient rewrites a request of fedClient into one of
// fedOtherClient: the authorize request's client_id and the token
// request's Basic credentials.
func fedSwapClient(r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") == fedClient {
		q.Set("client_id", fedOtherClient)
		r.URL.RawQuery = q.Encode()
	}
	if user, pass, ok := r.BasicAuth(); ok && user == fedClient {
		r.SetBasicAuth(fedOtherClient, pass)
	}
}

// fedDownIssuer is a loopback URL where nothing answers.
func fedDownIssuer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

// fedConfig is the test site: a guarded page answering "ok <sub> <idp>
// <email> <amr>", the issuer endpoints under /auth/, provider test on the
// OP allowing test-user's email only, provider down on downIssuer, and
// the extra jwt_auth lines.
func fedConfig(op *fedOP, downIssuer string, extra ...string) string {
	body := lines(append([]string{
		"secret " + strings.Repeat("federated-test-secret-", 3),
		"login /auth/login",
		"refresh /auth/refresh",
		"logout /auth/logout",
		"redirect /auth/login",
		"cookie {\n\t\t\tinsecure\n\t\t}",
		"identity_provider test " + op.issuer + " {\n\t\t\tclient_id " + fedClient + "\n\t\t\tclient_secret " + fedSecret +
			"\n\t\t\tallow email test-user@zitadel.ch\n\t\t}",
		"identity_provider down " + downIssuer + " {\n\t\t\tclient_id x\n\t\t\tclient_secret y\n\t\t\tallow sub z\n\t\t}",
	}, extra...)...)
	return siteConfig("\tjwt_auth {\n" + body + "\n\t}\n\trespond \"ok {http.auth.user.id} {http.auth.user.idp} {http.auth.user.email} {http.auth.user.amr}\" 200\n")
}

// fedBrowser is a cookie jar client that follows redirects, recording
// every URL it was sent to, and can be told to stop before one.
type fedBrowser struct {
	*http.Client
	visited []string
	stopAt  string // a URL prefix not to follow a redirect to
}

func newFedBrowser(t *testing.T) *fedBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &fedBrowser{}
	b.Client = &http.Client{Transport: loopbackTransport(), Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			b.visited = append(b.visited, req.URL.String())
			if b.stopAt != "" && strings.HasPrefix(req.URL.String(), b.stopAt) || len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	return b
}

// cookie is the jar's value of the cookie name for the URL, or "".
func (b *fedBrowser) cookie(target, name string) string {
	u, _ := url.Parse(target)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var fedAuthRequestID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// fedToProviderLogin starts a sign-in with provider at the test site and
// follows it to the OP's login page; it answers the auth request id the
// page posts back.
func fedToProviderLogin(t *testing.T, b *fedBrowser, provider, ret string) string {
	t.Helper()
	start := "/auth/login/" + provider
	if ret != "" {
		start += "?return=" + url.QueryEscape(ret)
	}
	page := doWith(t, b.Client, http.MethodGet, start)
	m := fedAuthRequestID.FindStringSubmatch(page.Body)
	if page.Status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: not at the provider's login page: %s", start, page)
	}
	return m[1]
}

// fedLogInAtProvider posts the OP's login form and follows the redirects
// (back to the test site, unless stopAt says otherwise).
func fedLogInAtProvider(t *testing.T, b *fedBrowser, op *fedOP, id, user string) response {
	t.Helper()
	return doWith(t, b.Client, http.MethodPost, op.issuer+"/login/username",
		formBody("id", id, "username", user, "password", fedPassword))
}

// fedSignIn is a whole sign-in with provider test as user: the response
// where the redirects ended.
func fedSignIn(t *testing.T, b *fedBrowser, op *fedOP, user, ret string) response {
	t.Helper()
	return fedLogInAtProvider(t, b, op, fedToProviderLogin(t, b, "test", ret), user)
}

// fedCallbackSeen is the callback URL (with code and state) the OP sent
// the browser to, or "".
func (b *fedBrowser) callbackSeen() string {
	for _, u := range b.visited {
		if strings.HasPrefix(u, fedCallback+"?") {
			return u
		}
	}
	return ""
}
