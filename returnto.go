package caddyjwt

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Where a browser goes back to after signing in: the return parameter of
// the login page, of a form login and of the automatic sign-in. A path on
// this site is always allowed (safeReturn); an absolute URL only when its
// origin is one of trusted_return; anything else, and the login page
// itself, is "/".

// returnOrigins are the trusted_return origins: exact ones, and
// "*.<domain>" ones that take every subdomain of the domain.
type returnOrigins []returnOrigin

type returnOrigin struct {
	scheme, port string
	host         string // lower case; for a wildcard, the domain after "*."
	wildcard     bool
}

// newReturnOrigins parses trusted_return: each an origin
// scheme://host[:port] with scheme http or https and no path, the host
// possibly "*.<domain>".
func newReturnOrigins(list []string) (returnOrigins, error) {
	var out returnOrigins
	for _, s := range list {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q: expected an origin such as https://app.example.com or https://*.example.com", s)
		}
		o := returnOrigin{scheme: u.Scheme, port: portOf(u), host: strings.ToLower(u.Hostname())}
		if domain, ok := strings.CutPrefix(o.host, "*."); ok {
			o.host, o.wildcard = domain, true
		}
		if o.host == "" || strings.Contains(o.host, "*") || strings.Trim(o.host, "abcdefghijklmnopqrstuvwxyz0123456789.-:") != "" {
			return nil, fmt.Errorf("%q: a wildcard stands only for the subdomains of a domain (https://*.example.com)", s)
		}
		out = append(out, o)
	}
	return out, nil
}

// trusts tells whether an absolute URL is on a trusted origin.
func (ro returnOrigins) trusts(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	for _, o := range ro {
		if o.scheme != u.Scheme || o.port != portOf(u) {
			continue
		}
		if host == o.host && !o.wildcard ||
			o.wildcard && len(host) > len(o.host)+1 && strings.HasSuffix(host, "."+o.host) {
			return true
		}
	}
	return false
}

// portOf is a URL's port, the scheme's default filled in.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// returnTarget is where the login sends the browser back to: a local path
// (safeReturn) or an absolute URL on a trusted_return origin, never the
// login page itself (which would loop); "/" otherwise.
func (is *issuer) returnTarget(s string) string {
	if target := safeReturn(s); target != "/" {
		if is.isLoginPath(target) {
			return "/"
		}
		return target
	}
	u, err := absoluteReturn(s)
	if err != nil || !is.returnOrigins.trusts(u) {
		return "/"
	}
	if is.isLoginPath(u.EscapedPath()) && sameOrigin(u, is.name) {
		return "/"
	}
	return u.String()
}

// isLoginPath tells whether a path (with or without a query) is the login
// endpoint or below it.
func (is *issuer) isLoginPath(p string) bool {
	p, _, _ = strings.Cut(p, "?")
	p, _, _ = strings.Cut(p, "#")
	return is.Login != "" && (p == is.Login || strings.HasPrefix(p, strings.TrimSuffix(is.Login, "/")+"/"))
}

// absoluteReturn parses an absolute http(s) return URL, refusing what a
// browser could read differently: user info, backslashes, control
// characters.
func absoluteReturn(s string) (*url.URL, error) {
	if strings.ContainsRune(s, '\\') || hasControl(s) {
		return nil, errors.New("not a clean URL")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, errors.New("not an absolute http(s) URL")
	}
	return u, nil
}

// sameOrigin tells whether u is on the origin of the URL other.
func sameOrigin(u *url.URL, other string) bool {
	o, err := url.Parse(other)
	return err == nil && o.Scheme == u.Scheme && strings.EqualFold(o.Hostname(), u.Hostname()) && portOf(o) == portOf(u)
}

// redirectOrigin is the origin of an absolute redirect URL; "" for a path
// on this site.
func redirectOrigin(redirect string) string {
	u, err := url.Parse(redirect)
	if err != nil || u.Host == "" {
		return ""
	}
	return origin(u.Scheme, u.Host)
}

// requestOrigin is the origin the client addressed: the scheme of the
// connection and the Host header. Behind a proxy that Caddy trusts
// (trusted_proxies), the scheme is the one its X-Forwarded-Proto names,
// so that a TLS-terminating proxy in front still yields https; from any
// other client that header is ignored.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			scheme = p
		}
	}
	return origin(scheme, r.Host)
}

// origin is scheme://host[:port] in lower case, without the scheme's
// default port.
func origin(scheme, hostport string) string {
	hostport = strings.ToLower(hostport)
	if host, port, err := net.SplitHostPort(hostport); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		hostport = host
		if strings.Contains(host, ":") {
			hostport = "[" + host + "]"
		}
	}
	return scheme + "://" + hostport
}
