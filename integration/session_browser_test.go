package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// sessionPage is what TestBrowserPortal reads off the page shown.
type sessionPage struct {
	URL  string `json:"url"`
	Form bool   `json:"form"` // a login form with a password field
	Text string `json:"text"` // the body's text
}

const sessionReadPage = `(() => ({
	url: location.href,
	form: !!document.querySelector('form input[type=password]'),
	text: document.body ? document.body.innerText : '',
}))()`

// TestBrowserPortal walks one sign-in for several sites in headless
// Chromium, the test host names resolved to loopback: the app sends the
// browser to the portal's form, signing in there lands on the app page,
// and after the access token expired the page opens again without the
// form (through the portal and back, no JavaScript on the site).
func TestBrowserPortal(t *testing.T) {
	chromium := needTool(t, "chromium")
	sessionSites(t)
	ctx := browserStart(t, chromium,
		chromedp.Flag("host-resolver-rules", "MAP *."+sessionDomain+" 127.0.0.1"),
		chromedp.Flag("explicitly-allowed-ports", fmt.Sprint(sessionPort)),
	)
	read := func() sessionPage {
		t.Helper()
		p, err := chromedp.Run(ctx, chromedp.Evaluate[sessionPage](sessionReadPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return p
	}
	app := siteURL("app", "/docs?p=1")

	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(app)); err != nil {
		t.Fatalf("visiting the app: %v", err)
	}
	if p := read(); !p.Form || !strings.HasPrefix(p.URL, siteURL("auth", "/auth/login?return=")) {
		t.Fatalf("the app without a token: %+v, want the portal's login form", p)
	}

	if _, err := chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), nodePassword),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	); err != nil {
		t.Fatalf("signing in: %v; now at %+v", err, read())
	}
	if p := read(); p.URL != app || p.Form || !strings.Contains(p.Text, `"target":"/docs?p=1"`) {
		t.Fatalf("after signing in on the portal: %+v, want the app page %s", p, app)
	}

	expireAccess()
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(app)); err != nil {
		t.Fatalf("coming back to the app: %v", err)
	}
	if p := read(); p.URL != app || p.Form || !strings.Contains(p.Text, `"target":"/docs?p=1"`) {
		t.Errorf("coming back after the access token expired: %+v, want the app page without the form", p)
	}
}
