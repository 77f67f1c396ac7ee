package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTOTPBrowser signs in with a second factor in headless Chromium, as
// a person would: /admin/ sends the browser to the login page, the
// password leads to the code page, a wrong code shows it again with a
// message, the right one lands on /admin/, all under the pages' CSP.
func TestTOTPBrowser(t *testing.T) {
	chromium := needTool(t, "chromium")
	bin := buildCaddy(t)
	users, secret := totpUsers(t)
	n := runNode(t, bin, totpNodeConfig(t, storageDir(t), users), 9297+portOffset)
	waitFor(t, n.base+"/auth/login")

	ctx := browserStart(t, chromium)
	watch := browserWatchPage(ctx)
	type page struct {
		URL   string `json:"url"`
		Body  string `json:"body"`
		OTP   bool   `json:"otp"`
		Alert string `json:"alert"`
	}
	read := func() page {
		t.Helper()
		p, err := chromedp.Run(ctx, chromedp.Evaluate[page](`({
			url: location.href,
			body: document.body.innerText.trim(),
			otp: !!document.querySelector('form[action="/auth/login"] input[name=otp]'),
			alert: document.querySelector('[role=alert]')?.textContent.trim() ?? '',
		})`))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return p
	}

	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(n.base+"/admin/")); err != nil {
		t.Fatalf("visiting /admin/: %v", err)
	}
	resp, err := chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), totpPassword),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("submitting the password: %v", err)
	}
	if p := read(); resp.Status != http.StatusOK || !p.OTP || strings.Contains(p.Body, totpPassword) {
		t.Fatalf("after the password: %d %+v, want the code page", resp.Status, p)
	}
	if c := browserCookie(t, ctx, n.base+"/auth/login", "access_token_otp"); c == nil || !c.HTTPOnly || c.Path != "/auth/login" {
		t.Errorf("pending sign-in cookie: %+v", c)
	}

	resp, err = chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=otp]`), "000000"),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("submitting a wrong code: %v", err)
	}
	if p := read(); resp.Status != http.StatusUnauthorized || !p.OTP || p.Alert == "" {
		t.Errorf("after a wrong code: %d %+v, want the code page with a message", resp.Status, p)
	}

	resp, err = chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=otp]`), totpCode(t, secret, time.Now())),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	if err != nil {
		t.Fatalf("submitting the code: %v", err)
	}
	if p := read(); resp.Status != http.StatusOK || p.URL != n.base+"/admin/" || p.Body != "admin alice" {
		t.Errorf("after the code: %d %+v, want /admin/ showing \"admin alice\"; cookies refused: %v", resp.Status, p, watch.blocked())
	}
	if c := browserCookie(t, ctx, n.base+"/auth/login", "access_token_otp"); c != nil {
		t.Errorf("the pending sign-in cookie is still there: %+v", c)
	}
	for _, e := range watch.logs() {
		t.Logf("browser log: %s", e)
		if strings.Contains(e, "Content Security Policy") {
			t.Errorf("the browser reports a CSP violation: %s", e)
		}
	}
}
