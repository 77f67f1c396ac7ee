// Package jws reads and verifies JSON Web Signatures in compact
// serialization (RFC 7515) the way caddyjwt's guard accepts them: strictly.
// It has no Caddy in it.
//
// One entry point, [Verifier.Verify], runs every check in order: the
// compact form (at most 16 KiB, three strict base64url parts), the header
// and the claims (one strict pass: exactly one JSON object each, no name
// twice, bounded depth and size, valid Unicode), the key (by kid and alg,
// from a [KeySet]), the signature (golang-jwt's signing methods), the time
// claims with leeway, then issuer, audience and lifetime. Failures are the
// sentinel errors below, which the caller maps to its own reasons.
//
// The hand-written scanner exists because no JSON library refuses all of
// what a token must not hold: a member name given twice (whose copy wins
// differs between readers), invalid UTF-8 and lone surrogate escapes
// (which decoders repair to U+FFFD, so that two tokens read as one),
// unbounded nesting.
package jws

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors: every refusal is one of them, never wrapped.
var (
	ErrMalformed   = errors.New("token malformed")
	ErrHeader      = errors.New("header not accepted")
	ErrAlgorithm   = errors.New("algorithm not accepted")
	ErrUnknownKey  = errors.New("unknown signing key")
	ErrSignature   = errors.New("signature invalid")
	ErrTokenType   = errors.New("token type not accepted")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not yet valid")
	ErrExpMissing  = errors.New("expiry missing")
	ErrClaimType   = errors.New("claim has wrong type")
	ErrIssuer      = errors.New("issuer not accepted")
	ErrAudience    = errors.New("audience not accepted")
	ErrLifetime    = errors.New("lifetime too long")
)

// MaxTokenBytes is the longest token decoded; longer ones are refused.
const MaxTokenBytes = 16 << 10

// RefreshType is the typ header of refresh tokens.
const RefreshType = "refresh+jwt"

// IsRefreshType tells whether a typ header names a refresh token.
func IsRefreshType(typ string) bool {
	return strings.EqualFold(typ, RefreshType) || strings.EqualFold(typ, "application/"+RefreshType)
}

// b64 is the strict base64url of JWS: no padding, no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// Token is what a compact JWS says, read before it is trusted: Parse
// fills it, Verify checks it.
type Token struct {
	Alg, Kid string
	HasKid   bool
	Refresh  bool // typ says refresh+jwt

	Exp, Nbf, Iat NumericDate
	Iss, Aud      []byte // raw JSON values, nil when absent
	Sub, Jti, Sid string

	// Payload is the decoded claims JSON.
	Payload []byte
	// Claims are the claims decoded, numbers as json.Number; Verify fills
	// them for tokens whose claims nest objects (it must decode those to
	// refuse duplicate names inside), otherwise they are nil until
	// DecodeClaims.
	Claims map[string]any

	signingInput string // header.payload, what the signature covers
	signature    []byte
	headerErr    error // a header never honoured, reported after the alg check
	inner        int   // members of objects nested in the claims
	badType      bool  // a registered claim of the wrong JSON type
}

// NumericDate is a time claim: absent, a time, or not a JSON number.
type NumericDate struct {
	Set, Bad bool
	Time     time.Time
}

// base64url marks the bytes of the base64url alphabet.
var base64url = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// SplitCompact refuses what is not a JWS in compact serialization before
// it is decoded: over MaxTokenBytes, not three non-empty parts, or any
// byte outside the base64url alphabet (padding, '+', '/', white space, CR
// and LF, which Go's decoder would otherwise skip). It returns where the
// two dots are. Non-zero trailing bits are refused by the strict decoding
// that follows.
func SplitCompact(tok string) (dot1, dot2 int, err error) {
	if len(tok) > MaxTokenBytes {
		return 0, 0, ErrMalformed
	}
	dots, last := 0, -1
	for i := 0; i < len(tok); i++ {
		if base64url[tok[i]] {
			continue
		}
		if tok[i] != '.' || i == last+1 {
			return 0, 0, ErrMalformed
		}
		if dots++; dots == 1 {
			dot1 = i
		}
		last = i
	}
	if dots != 2 || last == len(tok)-1 {
		return 0, 0, ErrMalformed
	}
	return dot1, last, nil
}

// Parse checks a token's compact form, decodes its parts, and reads what
// the checks need from its header and claims. Nothing is trusted yet.
func Parse(raw string) (*Token, error) {
	dot1, dot2, err := SplitCompact(raw)
	if err != nil {
		return nil, err
	}
	// One allocation holds a copy of the text (the decoder reads bytes)
	// and the decoded parts.
	buf := make([]byte, len(raw)+b64.DecodedLen(len(raw)))
	src, out := buf[:len(raw):len(raw)], buf[len(raw):]
	copy(src, raw)
	var header []byte
	t := &Token{signingInput: raw[:dot2]}
	if header, out, err = decodeSegment(out, src[:dot1]); err != nil {
		return nil, ErrMalformed
	}
	if t.Payload, out, err = decodeSegment(out, src[dot1+1:dot2]); err != nil {
		return nil, ErrMalformed
	}
	if t.signature, _, err = decodeSegment(out, src[dot2+1:]); err != nil {
		return nil, ErrMalformed
	}
	if err := t.readHeader(header); err != nil {
		return nil, err
	}
	if err := t.readClaims(); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeSegment decodes a base64url segment into the front of buf and
// returns it and the rest of buf.
func decodeSegment(buf, seg []byte) (decoded, rest []byte, err error) {
	n, err := b64.Decode(buf, seg)
	return buf[:n:n], buf[n:], err
}

// memberName is a member's name without its quotes; a name written with
// escapes is decoded.
func memberName(m jsonMember) []byte {
	if !m.escaped {
		return m.name[1 : len(m.name)-1]
	}
	return []byte(jsonString(m.name))
}

func (t *Token) readHeader(header []byte) error {
	var members [maxMembers]jsonMember
	n, _, err := scanObject(header, &members)
	if err != nil {
		return ErrMalformed
	}
	for _, m := range members[:n] {
		switch string(memberName(m)) {
		case "alg":
			if m.value[0] == '"' {
				t.Alg = jsonString(m.value)
			}
		case "kid":
			if m.value[0] != '"' {
				return ErrMalformed
			}
			t.Kid, t.HasKid = jsonString(m.value), true
		case "typ":
			t.Refresh = m.value[0] == '"' && IsRefreshType(jsonString(m.value))
		case "crit", "b64":
			t.headerErr = ErrHeader
		}
	}
	return nil
}

func (t *Token) readClaims() error {
	var members [maxMembers]jsonMember
	n, inner, err := scanObject(t.Payload, &members)
	if err != nil {
		return ErrMalformed
	}
	t.inner = inner
	var ids [3][]byte // sub, jti, sid: quoted
	for _, m := range members[:n] {
		switch name := string(memberName(m)); name {
		case "exp":
			t.Exp = readNumericDate(m.value)
		case "nbf":
			t.Nbf = readNumericDate(m.value)
		case "iat":
			t.Iat = readNumericDate(m.value)
		case "iss":
			t.Iss = m.value
			t.badType = t.badType || m.value[0] != '"'
		case "aud":
			t.Aud = m.value
			t.badType = t.badType || !isAudience(m.value)
		case "sub", "jti", "sid":
			if m.value[0] != '"' {
				t.badType = true
				continue
			}
			ids[strings.Index("subjtisid", name)/3] = m.value
		}
	}
	t.Sub, t.Jti, t.Sid = jsonStrings(ids)
	t.badType = t.badType || ids[0] != nil && t.Sub == ""
	return nil
}

// jsonStrings decodes quoted JSON strings (nil: absent, ""). Those
// without escapes, the usual case, share one allocation.
func jsonStrings(quoted [3][]byte) (a, b, c string) {
	var all strings.Builder
	size := 0
	for _, q := range quoted {
		if q != nil && !hasEscape(q) {
			size += len(q) - 2
		}
	}
	all.Grow(size)
	var out [3]string
	var ends [3]int
	for i, q := range quoted {
		switch {
		case q == nil:
		case hasEscape(q):
			out[i] = jsonString(q)
		default:
			all.Write(q[1 : len(q)-1])
		}
		ends[i] = all.Len()
	}
	text, start := all.String(), 0
	for i, q := range quoted {
		if q != nil && !hasEscape(q) {
			out[i] = text[start:ends[i]]
		}
		start = ends[i]
	}
	return out[0], out[1], out[2]
}

// isAudience tells whether a raw aud value has its RFC 7519 type: a
// string, or an array of strings.
func isAudience(raw []byte) bool {
	if raw[0] == '"' {
		return true
	}
	var list []any // not []string: encoding/json reads null into ""
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return false
	}
	for _, e := range list {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// checkNested refuses claims that give a member name twice inside a
// nested object (scanObject compares the top-level names only): a rule on
// realm_access.roles must not depend on which copy a reader keeps. It
// runs only for tokens with nested members and keeps the map it decodes.
func (t *Token) checkNested() error {
	if t.inner == 0 {
		return nil
	}
	claims, err := decodeScanned(t.Payload, t.inner)
	if err != nil {
		return ErrMalformed
	}
	t.Claims = claims
	return nil
}

// DecodeClaims decodes a payload that Parse accepted, numbers kept as
// json.Number.
func DecodeClaims(payload []byte) map[string]any {
	m, _ := decodeObject(payload)
	return m
}

// readNumericDate reads a time claim as golang-jwt does: a JSON number of
// seconds, truncated to the second; anything else is bad.
func readNumericDate(raw []byte) NumericDate {
	var secs int64
	whole := len(raw) <= 18
	for _, c := range raw {
		if c < '0' || c > '9' {
			whole = false
			break
		}
		secs = secs*10 + int64(c-'0')
	}
	if whole {
		return NumericDate{Set: true, Time: time.Unix(secs, 0)}
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return NumericDate{Set: true, Bad: true}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
		return NumericDate{Set: true, Bad: true}
	}
	whole2, frac := math.Modf(f)
	return NumericDate{Set: true, Time: time.Unix(int64(whole2), int64(frac*1e9)).Truncate(time.Second)}
}

// JSONString decodes a quoted JSON string that the scanner accepted.
func JSONString(quoted []byte) string { return jsonString(quoted) }
