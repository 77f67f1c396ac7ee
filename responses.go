package caddyjwt

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// failure is why a request is refused: the status, a stable reason for the
// {http.auth.jwt_auth.error} placeholder, and a fixed description for the
// WWW-Authenticate header. Descriptions never echo the request.
type failure struct {
	status      int
	reason      string
	description string
}

func (f *failure) Error() string { return f.reason + ": " + f.description }

// The failures, one per distinct description.
var (
	errMissing     = &failure{http.StatusUnauthorized, "missing", "token missing"}
	errMalformed   = &failure{http.StatusUnauthorized, "malformed", "token malformed"}
	errHeader      = &failure{http.StatusUnauthorized, "malformed", "header not accepted"}
	errExpired     = &failure{http.StatusUnauthorized, "expired", "token expired"}
	errNotYetValid = &failure{http.StatusUnauthorized, "not_yet_valid", "token not yet valid"}
	errSignature   = &failure{http.StatusUnauthorized, "bad_signature", "signature invalid"}
	errUnknownKey  = &failure{http.StatusUnauthorized, "bad_signature", "unknown signing key"}
	errAlgorithm   = &failure{http.StatusUnauthorized, "bad_signature", "algorithm not accepted"}
	errIssuer      = &failure{http.StatusUnauthorized, "bad_claims", "issuer not accepted"}
	errAudience    = &failure{http.StatusUnauthorized, "bad_claims", "audience not accepted"}
	errExpMissing  = &failure{http.StatusUnauthorized, "bad_claims", "expiry missing"}
	errLifetime    = &failure{http.StatusUnauthorized, "bad_claims", "lifetime too long"}
	errClaimType   = &failure{http.StatusUnauthorized, "bad_claims", "claim has wrong type"}
	errTokenType   = &failure{http.StatusUnauthorized, "bad_claims", "token type not accepted"}
	errRevoked     = &failure{http.StatusUnauthorized, "revoked", "token revoked"}
	errForbidden   = &failure{http.StatusForbidden, "forbidden", "insufficient scope"}
	errCrossOrigin = &failure{http.StatusForbidden, "forbidden", "cross-origin request"}
)

// jwsFailures are the guard's failures for the token package's errors.
var jwsFailures = map[error]*failure{
	jws.ErrMalformed:   errMalformed,
	jws.ErrHeader:      errHeader,
	jws.ErrAlgorithm:   errAlgorithm,
	jws.ErrUnknownKey:  errUnknownKey,
	jws.ErrSignature:   errSignature,
	jws.ErrTokenType:   errTokenType,
	jws.ErrExpired:     errExpired,
	jws.ErrNotYetValid: errNotYetValid,
	jws.ErrExpMissing:  errExpMissing,
	jws.ErrClaimType:   errClaimType,
	jws.ErrIssuer:      errIssuer,
	jws.ErrAudience:    errAudience,
	jws.ErrLifetime:    errLifetime,
}

// failureOfJWS is the failure for an error of the token package; an
// error it does not know counts as malformed.
func failureOfJWS(err error) *failure {
	if f := jwsFailures[err]; f != nil {
		return f
	}
	return errMalformed
}

// failureOf is the failure behind err; anything else counts as malformed.
func failureOf(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	return errMalformed
}

// refuse answers a request that may not pass: a redirect for browsers when
// configured, otherwise a Caddy HTTP error with its WWW-Authenticate header.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	f := failureOf(err)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.jwt_auth.error", f.reason)
	}
	h.logRefusal(r, f)
	h.metrics.validated(f.reason)
	w.Header().Del("Set-Cookie")

	if h.redirectURL != "" && f.status == http.StatusUnauthorized && isBrowserNavigation(r) {
		w.Header().Set("Location", h.redirectURL+url.QueryEscape(h.returnTo(r)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusFound)
		return nil
	}
	if f != errCrossOrigin {
		w.Header().Set("WWW-Authenticate", challenge(r, f))
	}
	return caddyhttp.Error(f.status, f)
}

// challenge builds the WWW-Authenticate value of RFC 6750.
func challenge(r *http.Request, f *failure) string {
	c := `Bearer realm="` + realm(r.Host) + `"`
	switch {
	case f == errMissing:
		return c
	case f.status == http.StatusForbidden:
		return c + `, error="insufficient_scope"`
	default:
		return c + `, error="invalid_token", error_description="` + f.description + `"`
	}
}

// realm is the host name without the port, reduced to characters that are
// safe inside a quoted string.
func realm(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return -1
		}
		return c
	}, host)
}

// isBrowserNavigation tells whether a refused request came from a browser
// that should be sent to the login page.
func isBrowserNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// returnTo is the page to come back to after login: its path and query,
// or its absolute URL when the login is on another origin.
func (h *Handler) returnTo(r *http.Request) string {
	uri := h.returnURI(r)
	if here := requestOrigin(r); h.redirectOrigin != "" && h.redirectOrigin != here {
		return here + uri
	}
	return uri
}

// returnURI is the path and query the client asked for, before any
// rewrite, to come back to after login: never a scheme or host, even for
// absolute-form requests, and never a token read from the query.
func (h *Handler) returnURI(r *http.Request) string {
	u := *r.URL
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		u = *orig.URL
	}
	if u.RawQuery != "" {
		q, changed := u.Query(), false
		for _, s := range h.tokenFrom {
			if s.Source == "query" && q.Has(s.Name) {
				q.Del(s.Name)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.RequestURI()
}

// checkAbsoluteURL accepts an absolute path or an absolute http(s) URL.
func checkAbsoluteURL(s string) error {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute path or an absolute http(s) URL: " + s)
	}
	return nil
}

// redirectPrefix is the Location of a redirect up to the escaped URI.
func redirectPrefix(redirect string) string {
	if redirect == "" {
		return ""
	}
	if strings.Contains(redirect, "?") {
		return redirect + "&return="
	}
	return redirect + "?return="
}
