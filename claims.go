package caddyjwt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ClaimRule is a condition on a claim. It holds when the claim has one of
// the values: for an array claim, when any element does; for the claims
// scope and scp, when strings, after splitting on spaces; numbers and
// booleans compare by their JSON text. With no values, the claim only has
// to be present.
type ClaimRule struct {
	// Claim is the claim's name, or a dotted path into nested objects
	// (realm_access.roles). A top-level claim whose name holds dots is
	// found first.
	Claim string `json:"claim,omitempty"`

	// Values are the accepted values; any one suffices.
	Values []string `json:"values,omitempty"`
}

// holds tells whether the rule holds for the claims.
func (rule ClaimRule) holds(claims map[string]any) bool {
	v, ok := lookupClaim(claims, rule.Claim)
	if !ok || v == nil {
		return false
	}
	if len(rule.Values) == 0 {
		return true
	}
	switch v := v.(type) {
	case string:
		if rule.Claim == "scope" || rule.Claim == "scp" {
			// Space-delimited (RFC 6749 3.3): only U+0020 separates scopes.
			for s := range strings.SplitSeq(v, " ") {
				if s != "" && rule.accepts(s) {
					return true
				}
			}
			return false
		}
		return rule.accepts(v)
	case []any:
		for _, e := range v {
			if s, scalar := scalarText(e); scalar && rule.accepts(s) {
				return true
			}
		}
		return false
	}
	s, scalar := scalarText(v)
	return scalar && rule.accepts(s)
}

func (rule ClaimRule) accepts(s string) bool { return slices.Contains(rule.Values, s) }

// ClaimHeader sets a request header from a claim.
type ClaimHeader struct {
	// Claim is the claim's name or dotted path, as in require.
	Claim string `json:"claim,omitempty"`

	// Header is the request header set for the handlers that follow.
	Header string `json:"header,omitempty"`
}

func (ch ClaimHeader) validate() error {
	if ch.Claim == "" || ch.Header == "" {
		return fmt.Errorf("a claim and a header name are needed")
	}
	for i := 0; i < len(ch.Header); i++ {
		if c := ch.Header[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return fmt.Errorf("invalid header name %q", ch.Header)
		}
	}
	return nil
}

// lookupClaim finds a top-level claim by its whole name, or else follows
// a dotted path through nested objects.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalarText is the text of a string, or the JSON text of a number or a
// boolean; objects, arrays and null are not scalars.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// claimText is how a claim is written into a placeholder or a header:
// scalars as their text, arrays joined with commas, objects as JSON.
func claimText(v any) string {
	if s, ok := scalarText(v); ok {
		return s
	}
	switch v := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimText(e)
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// identity is what a verified token says about its bearer, with what
// every request that presents it needs worked out once: the registered
// claims the hot path reads, the claim header values, and the placeholder
// function. The full claims are decoded from the payload only when a
// require rule, a claim header or a placeholder asks. It is read-only
// once made, so the verified-token cache shares it between requests.
type identity struct {
	payload   []byte
	once      sync.Once
	claims    map[string]any // decoded from payload by allClaims
	sub       string
	jti, sid  string
	jtiKey    revocationKey // jti and sid as the revocation list keeps them
	sidKey    revocationKey
	exp       *time.Time   // nil when the token has none
	notBefore *time.Time   // the later of nbf and iat, if any
	times     [2]time.Time // what exp and notBefore point to
	headers   []string     // claim_header values in config order; "" is not written
	provider  caddy.ReplacerFunc
}

// newIdentity keeps nothing of the parsed token but copies: the cache
// holds identities, and the token's payload shares one buffer with a copy
// of the whole text and its decoded parts (with the Token itself, some
// three times the token's length, for nothing).
func (h *Handler) newIdentity(t *jws.Token) *identity {
	id := &identity{payload: bytes.Clone(t.Payload), claims: t.Claims, sub: t.Sub, jti: t.Jti, sid: t.Sid}
	if id.jti != "" {
		id.jtiKey = revocationKeyOf(id.jti)
	}
	if id.sid != "" {
		id.sidKey = revocationKeyOf(id.sid)
	}
	if t.Exp.Set {
		id.times[0] = t.Exp.Time
		id.exp = &id.times[0]
	}
	for _, d := range []*jws.NumericDate{&t.Nbf, &t.Iat} {
		if d.Set && (id.notBefore == nil || d.Time.After(*id.notBefore)) {
			id.times[1] = d.Time
			id.notBefore = &id.times[1]
		}
	}
	if len(h.ClaimHeaders) > 0 {
		id.headers = make([]string, len(h.ClaimHeaders))
		for i, ch := range h.ClaimHeaders {
			id.headers[i] = h.claimHeaderValue(id, ch)
		}
	}
	id.provider = id.placeholder
	return id
}

// allClaims decodes the claims once (unless verification did, for
// nested claims), numbers kept as their JSON text.
func (id *identity) allClaims() map[string]any {
	id.once.Do(func() {
		if id.claims == nil {
			id.claims = jws.DecodeClaims(id.payload)
		}
	})
	return id.claims
}

// claimHeaderValue is the text of a claim header, or "" when the claim is
// absent or holds control characters.
func (h *Handler) claimHeaderValue(id *identity, ch ClaimHeader) string {
	v, ok := lookupClaim(id.allClaims(), ch.Claim)
	if !ok || v == nil {
		return ""
	}
	text := claimText(v)
	if hasControl(text) {
		if c := h.logger.Check(zapcore.DebugLevel, "claim not written into header: control characters"); c != nil {
			c.Write(zap.String("claim", ch.Claim), zap.String("header", ch.Header))
		}
		return ""
	}
	return text
}

// placeholder serves {http.auth.user.id} and {http.auth.user.<claim>},
// computed only when something reads them.
func (id *identity) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "http.auth.user.")
	if !ok {
		return nil, false
	}
	if name == "id" {
		return id.sub, true
	}
	v, ok := id.allClaims()[name]
	if !ok {
		return nil, false
	}
	return claimText(v), true
}

// authorize checks the require rules.
func (h *Handler) authorize(id *identity) error {
	for _, rule := range h.Require {
		if !rule.holds(id.allClaims()) {
			return errForbidden
		}
	}
	return nil
}

// publish makes the identity visible to what follows: placeholders and
// the configured claim headers. Claim values are data: they are set as
// they are, never expanded, and never written when they hold control
// characters.
func (h *Handler) publish(r *http.Request, id *identity) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(id.provider)
	}
	for i, ch := range h.ClaimHeaders {
		if id.headers[i] != "" {
			r.Header.Set(ch.Header, id.headers[i])
		}
	}
}

// hasControl tells whether s holds a control character: C0, DEL, or C1
// (U+0080–U+009F, 0xC2 0x80–0x9F in UTF-8; U+0085 is a line break to
// Java and to Unicode-aware log readers).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

// stripIdentityHeaders removes client-sent headers that claim_header
// writes, whatever their case and with '_' taken for '-', since CGI-style
// upstreams merge the two; and takes their names out of Connection, so a
// proxy cannot be told to drop the real ones as hop-by-hop.
func (h *Handler) stripIdentityHeaders(r *http.Request) {
	if len(h.ClaimHeaders) == 0 {
		return
	}
	for name := range r.Header {
		if h.isIdentityHeader(name) {
			delete(r.Header, name)
		}
	}
	conn := r.Header["Connection"]
	for i, v := range conn {
		var kept []string
		changed := false
		for tok := range strings.SplitSeq(v, ",") {
			if h.isIdentityHeader(strings.TrimSpace(tok)) {
				changed = true
				continue
			}
			kept = append(kept, tok)
		}
		if changed {
			conn[i] = strings.Join(kept, ",")
		}
	}
}

func (h *Handler) isIdentityHeader(name string) bool {
	for _, ch := range h.ClaimHeaders {
		if sameHeaderName(name, ch.Header) {
			return true
		}
	}
	return false
}

// sameHeaderName compares header names case-insensitively, '_' equal to '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

func fold(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}
