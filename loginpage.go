package caddyjwt

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

//go:embed login.html
var builtinLoginPage string

//go:embed page.html
var builtinPageHead string

// builtinPage parses a built-in page with the head the built-in pages
// share (page.html: meta and style).
func builtinPage(name, text string) (*template.Template, error) {
	tmpl, err := template.New(name).Parse(builtinPageHead)
	if err != nil {
		return nil, err
	}
	return tmpl.Parse(text)
}

// loginPage is what a login page template is given.
type loginPage struct {
	Action   string // the login path, where the form posts
	Return   string // where to go after signing in; posted back as "return"
	Username string // the name typed before a failed attempt
	Error    string // a message after a failed attempt, else empty
	Nonce    string // the CSP nonce for inline <style> and <script> elements
	Title    string // what one signs in to: login_title, else the host
	// PasswordLogin tells whether the site has password users (user or
	// users_file), whose form the page shows.
	PasswordLogin bool
	// Providers are the identity providers, one "Sign in with <Name>"
	// link each: a GET of URL starts the sign-in (keeping Return).
	Providers []loginProvider
}

// loginProvider is an identity provider as a login page offers it.
type loginProvider struct {
	Name string // the identity_provider's name
	URL  string // <login>/<name>?return=<Return>
}

// loadLoginPage parses the built-in page, or the user's template.
func loadLoginPage(file string) (*template.Template, error) {
	if file == "" {
		return builtinPage("login", builtinLoginPage)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("login_page: %w", err)
	}
	tmpl, err := template.New("login").Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("login_page: %w", err)
	}
	return tmpl, nil
}

// formActions is the CSP form-action list beyond 'self': the
// trusted_return origins, where a signed-in form may be redirected (a
// browser applies form-action to the redirects after a post too).
func formActions(origins []string) string {
	var b strings.Builder
	for _, o := range origins {
		b.WriteString(" ")
		b.WriteString(strings.TrimSuffix(o, "/"))
	}
	return b.String()
}

// renderLoginPage writes the login page with its security headers: no
// framing, no caching, and a CSP that allows only the page's own form
// target and the inline elements carrying this response's nonce.
func (is *issuer) renderLoginPage(w http.ResponseWriter, r *http.Request, page loginPage, status int) error {
	return is.renderPage(w, r, is.loginPage, page, status)
}

// renderPage writes a page of the login (the login page, the code page)
// from its template, under the login page's headers.
func (is *issuer) renderPage(w http.ResponseWriter, r *http.Request, tmpl *template.Template, page loginPage, status int) error {
	page.Action = is.Login
	page.Nonce = rand.Text()
	page.PasswordLogin = len(is.Users) > 0 || is.UsersFile != ""
	page.Providers = is.loginProviders(page.Return)
	page.Title = is.LoginTitle
	if page.Title == "" {
		page.Title = r.Host // only shown, escaped by the template
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			page.Title = host
		}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, page); err != nil {
		return fmt.Errorf("rendering the %s page: %w", tmpl.Name(), err)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+page.Nonce+"'; script-src 'nonce-"+page.Nonce+
		"'; img-src 'self' data:; form-action 'self'"+is.formTargets+"; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin") // not no-referrer: that sends "Origin: null" with the form post, which CSRF protection refuses where no Sec-Fetch-Site is sent (plain HTTP)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// loginProviders are the identity providers in config order, their links
// carrying the return target.
func (is *issuer) loginProviders(ret string) []loginProvider {
	var out []loginProvider
	for _, cfg := range is.IdentityProviders {
		p := is.providers[cfg.Name]
		if p == nil {
			continue
		}
		link := p.start
		if ret != "" && ret != "/" {
			link += "?return=" + url.QueryEscape(ret)
		}
		out = append(out, loginProvider{Name: p.Name, URL: link})
	}
	return out
}
