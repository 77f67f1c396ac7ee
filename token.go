package caddyjwt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxTokenBytes is the longest token decoded; longer ones are refused.
const maxTokenBytes = 16 << 10

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
	for _, s := range h.tokenFrom {
		switch s.Source {
		case "header":
			tok, err = fromHeader(r, s.Name)
		case "cookie":
			tok, err = fromCookie(r, s.Name)
		case "query":
			tok, err = single(r.URL.Query()[s.Name])
		}
		if err != nil || tok != "" {
			return tok, s.Source == "cookie", err
		}
	}
	return "", false, errMissing
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

// base64url marks the bytes of the base64url alphabet.
var base64url = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// splitCompact refuses what is not a JWS in compact serialization before
// it is decoded: over 16 KiB, not three non-empty parts, or any byte
// outside the base64url alphabet (padding, '+', '/', whitespace, CR and
// LF, which Go's decoder would otherwise skip). It returns where the two
// dots are. Non-zero trailing bits are refused by the strict decoding that
// follows.
func splitCompact(tok string) (dot1, dot2 int, err error) {
	if len(tok) > maxTokenBytes {
		return 0, 0, errMalformed
	}
	dots, last := 0, -1
	for i := 0; i < len(tok); i++ {
		if base64url[tok[i]] {
			continue
		}
		if tok[i] != '.' || i == last+1 {
			return 0, 0, errMalformed
		}
		if dots++; dots == 1 {
			dot1 = i
		}
		last = i
	}
	if dots != 2 || last == len(tok)-1 {
		return 0, 0, errMalformed
	}
	return dot1, last, nil
}

// verify checks a token's form, signature and claims, and returns the
// identity it carries. A kid that no key has makes remote key sets look
// again (at most once a minute each) before the token is refused.
func (h *Handler) verify(raw string) (*identity, error) {
	ring := h.keys.ring.Load()
	if id := h.cache.get(raw, ring, now()); id != nil {
		if h.revocations.isRevoked(id.jti, id.sid) {
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
	if h.revocations.isRevoked(id.jti, id.sid) {
		return nil, errRevoked
	}
	return id, nil
}

// check runs every check of a token but revocation: its header, its
// signature, its time claims, then issuer, audience, lifetime and
// duplicate names in nested claims. refresh
// says which kind of token is due.
func (h *Handler) check(ring *keyRing, raw string, refresh bool) (*parsedToken, error) {
	t, err := parseToken(raw)
	if err != nil {
		return nil, err
	}
	if err := t.checkSignature(ring, refresh); err != nil {
		return nil, err
	}
	at := now()
	if err := t.checkTimes(at, h.leeway, h.AllowMissingExp); err != nil {
		return nil, err
	}
	if err := h.checkIssuerAudience(t.iss, t.aud); err != nil {
		return nil, err
	}
	if h.MaxLifetime > 0 && (!t.exp.set || t.exp.t.After(at.Add(time.Duration(h.MaxLifetime)+h.leeway))) {
		return nil, errLifetime
	}
	if err := t.checkNested(); err != nil {
		return nil, err
	}
	return t, nil
}

// checkIssuerAudience checks iss against the accepted issuers and aud (a
// string or an array of strings) against the accepted audiences, each
// when configured. Values are raw JSON.
func (h *Handler) checkIssuerAudience(iss, aud []byte) error {
	if len(h.issuers) > 0 && (len(iss) == 0 || iss[0] != '"' || !slices.Contains(h.issuers, jsonString(iss))) {
		return errIssuer
	}
	if len(h.Audiences) == 0 {
		return nil
	}
	if len(aud) > 0 && aud[0] == '"' {
		if slices.Contains(h.Audiences, jsonString(aud)) {
			return nil
		}
		return errAudience
	}
	var list []string
	if len(aud) == 0 || json.Unmarshal(aud, &list) != nil ||
		!slices.ContainsFunc(list, func(a string) bool { return slices.Contains(h.Audiences, a) }) {
		return errAudience
	}
	return nil
}
