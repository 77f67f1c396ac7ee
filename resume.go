package caddyjwt

import (
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// Staying signed in without JavaScript: the guard's redirect sends a
// browser whose access token expired to GET <login>; when it holds a valid
// refresh cookie, the login rotates it, sets both cookies and sends the
// browser straight back (resume), instead of showing the form.

// maxResumes is how many automatic sign-ins one browser gets within
// resumeWindow before the form is shown instead. A site that does not
// accept the cookies the login sets (a cookie domain or path that does
// not reach it, Secure cookies over plain HTTP, a guard expecting another
// issuer) would otherwise send the browser back and forth for ever;
// tabs racing after a break make at most a few sign-ins at once.
const (
	maxResumes   = 4
	resumeWindow = 10 // seconds
)

// resume signs a browser in again from its refresh cookie and answers 303
// to target; false (nothing written) when there is no usable refresh
// cookie or the browser is looping, and the form is to be shown: page
// then carries a message for the loop. A failure of the storage is an
// error (503).
func (is *issuer) resume(w http.ResponseWriter, r *http.Request, target string, page *loginPage) (bool, error) {
	if is.Refresh == "" {
		return false, nil
	}
	raw, err := fromCookie(r, is.cookie.Name+"_refresh")
	if err != nil || raw == "" {
		return false, nil
	}
	count := is.resumeCount(r)
	if count >= maxResumes {
		is.logger.Warn("automatic sign-in keeps coming back: showing the login form; check that the site accepts the cookies the login sets (cookie domain, path, insecure over plain HTTP) and tokens of this issuer",
			zap.String("client_ip", clientIP(r)), zap.Int("sign_ins", count))
		http.SetCookie(w, is.resumeCookie(0, -1))
		page.Error = "You are signed in, but the page did not accept it. Sign in again, or tell the site's administrator."
		return false, nil
	}
	tok, sub, err := is.refresh(r, raw)
	if errors.Is(err, errUnavailable) {
		return false, err
	}
	if err != nil {
		if c := is.logger.Check(zap.DebugLevel, "automatic sign-in refused"); c != nil {
			c.Write(zap.String("reason", err.Error()), zap.String("client_ip", clientIP(r)))
		}
		http.SetCookie(w, is.refreshCookie("", -1))
		return false, nil
	}
	is.metrics.refreshed("ok")
	is.logger.Debug("signed in again from the refresh cookie", zap.String("user", sub), zap.String("client_ip", clientIP(r)))
	is.setCookies(w, tok)
	http.SetCookie(w, is.resumeCookie(count+1, resumeWindow))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
	return true, nil
}

// resumeCount is how many automatic sign-ins the browser had in the last
// resumeWindow, from its resume cookie.
func (is *issuer) resumeCount(r *http.Request) int {
	c, err := r.Cookie(is.cookie.Name + "_resumed")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(c.Value)
	if err != nil || n < 0 {
		return maxResumes // a value the login never sets: treat as looping
	}
	return n
}

// resumeCookie counts automatic sign-ins: it reaches only the login path,
// and lives resumeWindow seconds from the last one.
func (is *issuer) resumeCookie(count, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: is.cookie.Name + "_resumed", Value: strconv.Itoa(count), Path: is.Login, Domain: is.cookie.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: !is.cookie.Insecure, SameSite: http.SameSiteLaxMode,
	}
}
