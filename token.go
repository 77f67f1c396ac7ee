package caddyjwt

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// defaultCookieName is the cookie read after the Authorization header.
const defaultCookieName = "access_token"

// TokenSource is a place in the request where a token is read.
type TokenSource struct {
	// Source is header, cookie or query.
	Source string `json:"source,omitempty"`

	// Name is the header, cookie or query parameter name. The
	// Authorization header carries the token after the Bearer scheme
	// (matched case-insensitively); any other header carries it bare.
	Name string `json:"name,omitempty"`
}

func (s TokenSource) validate() error {
	switch s.Source {
	case "header", "cookie", "query":
	default:
		return fmt.Errorf("source must be header, cookie or query, not %q", s.Source)
	}
	if s.Name == "" {
		return fmt.Errorf("%s source needs a name", s.Source)
	}
	return nil
}

// extract reads the token from the first configured source present, and
// tells whether that source was a cookie.
func (h *Handler) extract(r *http.Request) (tok string, cookie bool, err error) {
	tok, src, err := h.extractFrom(r)
	return tok, src != nil && src.Source == "cookie", err
}

// extractFrom reads the token from the first configured source present,
// and tells which source it was.
func (h *Handler) extractFrom(r *http.Request) (string, *TokenSource, error) {
	for i, s := range h.tokenFrom {
		var tok string
		var err error
		switch s.Source {
		case "header":
			tok, err = fromHeader(r, s.Name)
		case "cookie":
			tok, err = fromCookie(r, s.Name)
		case "query":
			tok, err = single(r.URL.Query()[s.Name])
		}
		if err != nil || tok != "" {
			return tok, &h.tokenFrom[i], err
		}
	}
	return "", nil, errMissing
}

// forget removes from the request what the handlers after the guard must
// never see: the token it read, from its source (unless forward_token),
// and the refresh cookie, wherever it reaches. The token removed stays in
// the request's context (earlierToken) for a jwt_auth nested further on.
func (h *Handler) forget(r *http.Request, raw string, src *TokenSource) *http.Request {
	removeCookie(r.Header, h.refreshCookieName)
	if src == nil || src.Name == "" || h.ForwardToken {
		return r
	}
	switch src.Source {
	case "header":
		removeBearer(r.Header, src.Name)
	case "cookie":
		removeCookie(r.Header, src.Name)
	case "query":
		r.URL.RawQuery = removeQuery(r.URL.RawQuery, src.Name)
	}
	caddyhttp.SetVar(r.Context(), earlierTokenVar, &earlier{raw: raw, cookie: src.Source == "cookie"})
	return r
}

// earlierTokenVar is the request variable holding the token an earlier
// jwt_auth of this request read and removed. A variable costs no copy of
// the request (a context value would: three allocations on the hot path);
// what {http.vars.*} would show of it is its String, never the token.
const earlierTokenVar = "caddyjwt.earlier_token"

type earlier struct {
	raw    string
	cookie bool
}

func (*earlier) String() string { return "[token removed by jwt_auth]" }

// The sources of a token taken from an earlier jwt_auth: no name, as
// there is nothing left in the request to remove.
var (
	earlierHeader = &TokenSource{Source: "header"}
	earlierCookie = &TokenSource{Source: "cookie"}
)

// earlierToken is the token an earlier jwt_auth of this request read and
// removed, so that a jwt_auth nested after it (route /admin/* { jwt_auth
// { require amr otp } }) checks the same token, with its own rules; a
// token from a cookie keeps its cross-origin check. errMissing when there
// is none.
func earlierToken(r *http.Request) (string, *TokenSource, error) {
	e, ok := caddyhttp.GetVar(r.Context(), earlierTokenVar).(*earlier)
	switch {
	case !ok:
		return "", nil, errMissing
	case e.cookie:
		return e.raw, earlierCookie, nil
	default:
		return e.raw, earlierHeader, nil
	}
}

// removeBearer removes a header carrying a token: from Authorization the
// Bearer values only (another scheme's credentials are not the guard's to
// take), any other header whole.
func removeBearer(header http.Header, name string) {
	if !strings.EqualFold(name, "Authorization") {
		header.Del(name)
		return
	}
	values := header["Authorization"]
	kept := values[:0:0]
	for _, v := range values {
		if scheme, _, _ := strings.Cut(strings.TrimSpace(v), " "); !strings.EqualFold(scheme, "Bearer") {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		delete(header, "Authorization")
		return
	}
	header["Authorization"] = kept
}

// removeCookie removes every cookie of a name from the Cookie headers,
// keeping the others as the client wrote them.
func removeCookie(header http.Header, name string) {
	values := header["Cookie"]
	if name == "" || !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, name) }) {
		return
	}
	var kept []string
	for _, v := range values {
		var parts []string
		for part := range strings.SplitSeq(v, ";") {
			if n, _, _ := strings.Cut(strings.TrimSpace(part), "="); n != name {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		delete(header, "Cookie")
		return
	}
	header["Cookie"] = kept
}

// removeQuery removes a parameter from a raw query, keeping the others as
// they were written.
func removeQuery(raw, name string) string {
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err != nil || k != name {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&")
}

// fromHeader reads a bare token, or a Bearer token from Authorization;
// Authorization values of other schemes count as absent.
func fromHeader(r *http.Request, name string) (string, error) {
	values := r.Header.Values(name)
	if !strings.EqualFold(name, "Authorization") {
		return single(values)
	}
	var tok string
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if rest = strings.TrimSpace(rest); !strings.EqualFold(scheme, "Bearer") || rest == "" {
			continue
		}
		if tok != "" && tok != rest {
			return "", errMalformed
		}
		tok = rest
	}
	return tok, nil
}

// fromCookie reads a cookie. Two different values under one name are
// refused rather than picked from: a sibling domain may have planted one.
func fromCookie(r *http.Request, name string) (string, error) {
	var values []string
	for _, c := range r.CookiesNamed(name) {
		values = append(values, c.Value)
	}
	return single(values)
}

// single returns the one non-empty value; differing values are refused.
func single(values []string) (string, error) {
	var tok string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if tok != "" && tok != v {
			return "", errMalformed
		}
		tok = v
	}
	return tok, nil
}

// verify checks a token's form, signature and claims, and returns the
// identity it carries. A kid that no key has makes remote key sets look
// again (at most once a minute each) before the token is refused.
func (h *Handler) verify(raw string) (*identity, error) {
	ring := h.keys.ring.Load()
	if id := h.cache.get(raw, ring, now()); id != nil {
		if h.revocations.refusesIdentity(id) {
			return nil, errRevoked
		}
		return id, nil
	}
	id, err := h.verifyWith(ring, raw)
	if err == errUnknownKey && h.refetchKeys() {
		ring = h.keys.ring.Load()
		id, err = h.verifyWith(ring, raw)
	}
	if err == nil {
		h.cache.put(raw, id, ring, h.leeway)
	}
	return id, err
}

// verifyWith fully checks an access token against a key ring, and its
// revocation.
func (h *Handler) verifyWith(ring *keyRing, raw string) (*identity, error) {
	t, err := h.check(ring, raw, false)
	if err != nil {
		return nil, err
	}
	id := h.newIdentity(t)
	if h.revocations.refusesIdentity(id) {
		return nil, errRevoked
	}
	return id, nil
}

// check runs every check of a token but revocation, through the token
// package: its form, header, signature, time claims, issuer, audience,
// lifetime and nested duplicate names. refresh says which kind of token
// is due. The package's sentinel errors become the guard's failures.
func (h *Handler) check(ring *keyRing, raw string, refresh bool) (*jws.Token, error) {
	v, keys := h.verifier, ring.set
	if refresh {
		v, keys = h.refreshVerifier, ring.refreshSet
	}
	t, err := v.Verify(raw, keys, refresh)
	if err != nil {
		return nil, failureOfJWS(err)
	}
	return t, nil
}
