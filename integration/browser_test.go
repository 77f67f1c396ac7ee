package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserBase is where the example serves its site with the login page.
var browserBase = exampleURL(8080, "")

// browserScreenshot is where TestBrowserLoginLoop leaves a picture of the
// login page showing a failed attempt, for a person to look at.
const browserScreenshot = "/tmp/browser-login.png"

// docsScreenshot is the picture of the login page, as a person first sees
// it, that README.md and docs/ show: TestBrowserLoginLoop takes it on
// every run, so it is never stale, and writes the file only when it
// changed.
var docsScreenshot = filepath.Join("..", "docs", "login-page.png")

// TestBrowserLoginLoop runs the README's command on example/Caddyfile and
// walks the login loop in headless Chromium, as a person would: sent to the
// login page, a wrong password, the right one, the members' page with an
// HttpOnly cookie, sign out, and sent to the login page again.
func TestBrowserLoginLoop(t *testing.T) {
	chromium := needTool(t, "chromium")
	bin := buildCaddy(t)
	runExample(t, bin)

	// The login page's own headers, once, without a browser.
	resp := doWith(t, nodeClient, http.MethodGet, browserBase+"/login?return=%2Fmembers.html")
	if resp.Status != http.StatusOK || !strings.Contains(resp.Body, `name="password"`) {
		t.Errorf("GET /login: %d, want 200 with the login form:\n%s", resp.Status, resp.Body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page Content-Security-Policy = %q, want one with frame-ancestors 'none'", csp)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("login page X-Frame-Options = %q, want DENY", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login page Cache-Control = %q, want no-store", got)
	}

	ctx := browserStart(t, chromium)
	watch := browserWatchPage(ctx)
	wantLoginPage := browserBase + "/login?return=%2Fmembers.html"

	// 1. An anonymous visit to the members' page lands on the login page.
	resp2, err := chromedp.Run(ctx, chromedp.NavigateResponse(browserBase+"/members.html"))
	if err != nil {
		t.Fatalf("visiting /members.html: %v", err)
	}
	p := browserRead(t, ctx)
	if p.URL != wantLoginPage || resp2.Status != http.StatusOK {
		t.Fatalf("visiting /members.html without a token: at %s (%d), want %s (200)", p.URL, resp2.Status, wantLoginPage)
	}
	if !p.LoginForm || p.Title != "Sign in to localhost" || p.Return != "/members.html" || p.Alert != "" {
		t.Fatalf("the login page is not as expected: %+v", p)
	}
	browserSaveScreenshot(t, ctx, docsScreenshot)

	// 2. A wrong password: the login page again, with a message.
	resp2, err = chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not-alice-password"),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("submitting a wrong password: %v", err)
	}
	p = browserRead(t, ctx)
	if resp2.Status != http.StatusUnauthorized || p.URL != browserBase+"/login" {
		t.Errorf("after a wrong password: at %s (%d), want %s/login (401)", p.URL, resp2.Status, browserBase)
	}
	if !p.LoginForm || p.Alert == "" || !p.AlertVisible {
		t.Errorf("after a wrong password, want the login form with a visible role=alert message: %+v", p)
	}
	if p.Return != "/members.html" || p.Username != "alice" || p.Password != "" {
		t.Errorf("after a wrong password, want return kept, the user name kept and the password empty: %+v", p)
	}
	browserSaveScreenshot(t, ctx, browserScreenshot)
	if c := browserCookie(t, ctx, browserBase+"/", "access_token"); c != nil {
		t.Errorf("a failed login set the access_token cookie: %+v", c)
	}

	// 3. The right password: back on the members' page.
	resp2, err = chromedp.RunResponse(ctx,
		// The page kept the user name; clear it and type it again. (Not
		// SetValue(sel, ""): chromedp v0.23 drops an empty string argument,
		// and the field ends up holding "undefined".)
		chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name=username]').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "alice-demo-password"),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	p = browserRead(t, ctx)
	if resp2.Status != http.StatusOK || p.URL != browserBase+"/members.html" || p.H1 != "Members only" {
		t.Fatalf("after signing in: at %s (%d) showing %q, want %s/members.html (200) showing \"Members only\"; cookies refused by the browser: %v",
			p.URL, resp2.Status, p.H1, browserBase, watch.blocked())
	}

	// The members' page must not be reused by the browser without asking
	// the server: else step 6 shows it again after signing out. Whether the
	// browser does reuse it depends on how old the file is (heuristic
	// freshness: a tenth of its age), so this is checked here too.
	if cc := strings.ToLower(browserHeader(resp2.Headers, "Cache-Control")); !strings.Contains(cc, "no-store") && !strings.Contains(cc, "no-cache") {
		t.Errorf("the members' page came with Cache-Control %q: the browser may show it again from its cache after signing out; want no-store or no-cache", cc)
	}

	// 4. The token is in an HttpOnly cookie that scripts cannot read.
	access := browserCookie(t, ctx, browserBase+"/members.html", "access_token")
	if access == nil {
		t.Fatalf("no access_token cookie for /members.html after signing in; cookies refused by the browser: %v", watch.blocked())
	}
	if !access.HTTPOnly || !access.Secure || access.SameSite != network.CookieSameSiteLax || access.Path != "/" || access.Session {
		t.Errorf("access_token cookie: httpOnly=%v secure=%v sameSite=%q path=%q session=%v, want HttpOnly, Secure, Lax, /, with Max-Age",
			access.HTTPOnly, access.Secure, access.SameSite, access.Path, access.Session)
	}
	if refresh := browserCookie(t, ctx, browserBase+"/refresh", "access_token_refresh"); refresh == nil {
		t.Errorf("no access_token_refresh cookie for /refresh after signing in")
	} else if !refresh.HTTPOnly || !refresh.Secure || refresh.SameSite != network.CookieSameSiteLax || refresh.Path != "/" {
		// The example's /login, /refresh and /logout share only "/".
		t.Errorf("access_token_refresh cookie: httpOnly=%v secure=%v sameSite=%q path=%q, want HttpOnly, Secure, Lax, /",
			refresh.HTTPOnly, refresh.Secure, refresh.SameSite, refresh.Path)
	}
	if strings.Contains(p.Cookie, "access_token") || strings.Contains(p.Cookie, access.Value) {
		t.Errorf("document.cookie shows the token: %q", p.Cookie)
	}

	// 5. Sign out: the login page, and the cookie is gone.
	resp2, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("logout")))
	if err != nil {
		t.Fatalf("signing out: %v", err)
	}
	p = browserRead(t, ctx)
	if resp2.Status != http.StatusOK || !strings.HasPrefix(p.URL, browserBase+"/login") || !p.LoginForm {
		t.Errorf("after signing out: at %s (%d), login form %v; want the login page (200)", p.URL, resp2.Status, p.LoginForm)
	}
	if c := browserCookie(t, ctx, browserBase+"/members.html", "access_token"); c != nil {
		t.Errorf("access_token cookie still there after signing out: %+v", c)
	}
	// The signed-out token is revoked on the server too, not only forgotten.
	if r := sendRequest(nodeClient, http.MethodGet, browserBase+"/members.html", access.Value, ""); r.err != nil {
		t.Error(r.err)
	} else if r.Status != http.StatusUnauthorized {
		t.Errorf("the signed-out token still opens /members.html: %d, want 401", r.Status)
	}

	// 6. The members' page sends the browser to the login page again, as
	// a person sees it: with the browser's cache in play. A guarded page
	// sent without Cache-Control is heuristically fresh (from its
	// Last-Modified), and the browser shows it again without asking.
	resp2, err = chromedp.Run(ctx, chromedp.NavigateResponse(browserBase+"/members.html"))
	if err != nil {
		t.Fatalf("visiting /members.html after signing out: %v", err)
	}
	p = browserRead(t, ctx)
	if p.URL != wantLoginPage || resp2.Status != http.StatusOK || !p.LoginForm || p.H1 == "Members only" {
		t.Errorf("visiting /members.html after signing out: at %s showing %q, want %s with the login form; "+
			"the browser got %d (from its disk cache: %v) with headers %v",
			p.URL, p.H1, wantLoginPage, resp2.Status, resp2.FromDiskCache, resp2.Headers)
	}

	// 7. And the server itself refuses it: the same visit with the cache off.
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatalf("turning the browser cache off: %v", err)
	}
	resp2, err = chromedp.Run(ctx, chromedp.NavigateResponse(browserBase+"/members.html"))
	if err != nil {
		t.Fatalf("visiting /members.html after signing out, cache off: %v", err)
	}
	p = browserRead(t, ctx)
	if p.URL != wantLoginPage || resp2.Status != http.StatusOK || !p.LoginForm || p.H1 == "Members only" {
		t.Errorf("visiting /members.html after signing out, cache off: at %s (%d) showing %q, want %s with the login form",
			p.URL, resp2.Status, p.H1, wantLoginPage)
	}

	// The pages' own CSP never had to block anything of theirs.
	for _, e := range watch.logs() {
		t.Logf("browser log: %s", e)
		if strings.Contains(e, "Content Security Policy") {
			t.Errorf("the browser reports a CSP violation: %s", e)
		}
	}
}

// browserStart starts headless Chromium for the test, bounded to a minute,
// and returns its context. The flags keep it off every network but
// loopback, so that it cannot hang on outside connections. extra options
// come after these (a flag given again replaces it).
func browserStart(t *testing.T, chromium string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	out := new(syncBuffer)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The example's ports moved by CADDYJWT_TEST_PORT_OFFSET may land on
		// one Chromium refuses (ERR_UNSAFE_PORT: 10080 with an offset of
		// 2000, for one): they are the test's own, on loopback.
		chromedp.Flag("explicitly-allowed-ports", fmt.Sprintf("%d,%d,%d", 8080+portOffset, 8081+portOffset, 8082+portOffset)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(800, 600),
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	timeout, cancelTimeout := context.WithTimeout(context.Background(), 60*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		fmt.Fprintf(out, "chromedp: "+format+"\n", args...)
	}))
	t.Cleanup(func() {
		cancelBrowser() // closes the browser and waits for it
		cancelAlloc()
		cancelTimeout()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v\n%s", chromium, err, out)
	}
	return ctx
}

// browserPage is what the test reads off the page the browser shows.
type browserPage struct {
	URL          string `json:"url"`
	Title        string `json:"title"`
	H1           string `json:"h1"`
	LoginForm    bool   `json:"loginForm"`    // a login form posting to /login, with its fields
	Return       string `json:"return"`       // the form's hidden return field
	Username     string `json:"username"`     // the user name field
	Password     string `json:"password"`     // the password field
	Alert        string `json:"alert"`        // the text of [role=alert], "" without one
	AlertVisible bool   `json:"alertVisible"` // the alert takes room on the page
	Cookie       string `json:"cookie"`       // document.cookie
}

// browserReadPage reads a browserPage, at once: a missing element is an
// empty field, never a wait.
const browserReadPage = `(() => {
	const q = (s, from = document) => from.querySelector(s);
	const form = q('form[action="/login"][method="post"]');
	const alert = q('[role=alert]');
	return {
		url: location.href,
		title: document.title,
		h1: q('h1')?.textContent.trim() ?? '',
		loginForm: !!(form && q('input[name=username]', form) && q('input[name=password][type=password]', form) && q('button[type=submit]', form)),
		return: (form && q('input[name=return]', form)?.value) ?? '',
		username: (form && q('input[name=username]', form)?.value) ?? '',
		password: (form && q('input[name=password]', form)?.value) ?? '',
		alert: alert?.textContent.trim() ?? '',
		alertVisible: !!alert && alert.getBoundingClientRect().height > 0 && getComputedStyle(alert).visibility === 'visible',
		cookie: document.cookie,
	};
})()`

func browserRead(t *testing.T, ctx context.Context) browserPage {
	t.Helper()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[browserPage](browserReadPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return p
}

// browserHeader returns the response header called name, in any letter case.
func browserHeader(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// browserCookie returns the browser's cookie called name that applies to
// url, or nil.
func browserCookie(t *testing.T, ctx context.Context, url, name string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("reading the cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// browserWatch collects, while the test runs, the Set-Cookie lines the
// browser refuses (with its reasons, to explain a login that does not
// stick) and the browser's log entries (CSP violations, failed loads).
type browserWatch struct {
	mu      sync.Mutex
	refused []string
	entries []string
}

func browserWatchPage(ctx context.Context) *browserWatch {
	w := new(browserWatch)
	extra := chromedp.Events(ctx, network.ResponseReceivedExtraInfo)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range extra {
			if err != nil {
				return
			}
			for _, b := range ev.BlockedCookies {
				w.mu.Lock()
				w.refused = append(w.refused, fmt.Sprintf("%q: %v", b.CookieLine, b.BlockedReasons))
				w.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.entries = append(w.entries, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			w.mu.Unlock()
		}
	}()
	return w
}

// blocked returns the refused cookies so far.
func (w *browserWatch) blocked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.refused...)
}

// logs returns the browser's log entries so far.
func (w *browserWatch) logs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.entries...)
}

// browserSaveScreenshot writes a PNG of the page to path, unless the file
// already holds exactly that picture.
func browserSaveScreenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot for %s: %v", path, err)
		return
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, png) {
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}
