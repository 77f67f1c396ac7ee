package caddyjwt

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed otp.html
var builtinCodePage string

// codePage is the form login's second page, asking for the one-time
// code. It posts the code alone to the login path; the pending sign-in's
// cookie says whose code it is.
var codePage = template.Must(builtinPage("one-time code", builtinCodePage))

// renderCodePage writes the code page under the login page's headers
// (CSP with a nonce, no framing, no caching). page.Return is only used
// for the link that starts over.
func (is *issuer) renderCodePage(w http.ResponseWriter, r *http.Request, page loginPage, status int) error {
	return is.renderPage(w, r, codePage, page, status)
}
