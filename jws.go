package caddyjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// The guard's hot path reads a compact JWS itself, in one strict pass over
// header and claims (scanObject), and checks the signature with the
// standard library's crypto. Decoding the claims into a map, which costs
// more than the rest of a cache miss together, waits until a require
// rule, a claim header or a placeholder asks for it. golang-jwt signs.

// b64 is the strict base64url of JWS: no padding, no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// parsedToken is what the guard reads from a token before trusting it.
type parsedToken struct {
	signingInput []byte // header.payload, what the signature covers (read-only)
	signature    []byte
	payload      []byte // the decoded claims JSON
	alg, kid     string
	hasKid       bool
	headerErr    *failure // a header caddyjwt refuses, reported after the alg check
	refresh      bool     // typ says refresh+jwt
	exp          numericDate
	nbf, iat     numericDate
	iss, aud     []byte // raw JSON values, nil when absent
	sub, jti     string
	sid          string
	inner        int            // members of objects nested in the claims
	claims       map[string]any // decoded by checkNested when inner > 0, else later by allClaims
}

// numericDate is a time claim: absent, a time, or not a JSON number.
type numericDate struct {
	set, bad bool
	t        time.Time
}

// parseToken checks a token's compact form, decodes its parts, and reads
// what the guard needs from its header and claims.
func parseToken(raw string) (*parsedToken, error) {
	dot1, dot2, err := splitCompact(raw)
	if err != nil {
		return nil, err
	}
	src := readOnlyBytes(raw)
	out := make([]byte, b64.DecodedLen(len(raw))) // one allocation for the decoded parts
	var header []byte
	t := &parsedToken{signingInput: src[:dot2]}
	if header, out, err = decodeSegment(out, src[:dot1]); err != nil {
		return nil, errMalformed
	}
	if t.payload, out, err = decodeSegment(out, src[dot1+1:dot2]); err != nil {
		return nil, errMalformed
	}
	if t.signature, _, err = decodeSegment(out, src[dot2+1:]); err != nil {
		return nil, errMalformed
	}
	if err := t.readHeader(header); err != nil {
		return nil, err
	}
	if err := t.readClaims(); err != nil {
		return nil, err
	}
	return t, nil
}

// readOnlyBytes views a string's bytes without copying them. Nothing may
// write to the result: it is only read by the base64 decoder, the JSON
// scanner and the hash functions.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
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

func (t *parsedToken) readHeader(header []byte) error {
	var members [maxMembers]jsonMember
	n, _, err := scanObject(header, &members)
	if err != nil {
		return errMalformed
	}
	for _, m := range members[:n] {
		switch string(memberName(m)) {
		case "alg":
			if m.value[0] == '"' {
				t.alg = jsonString(m.value)
			}
		case "kid":
			if m.value[0] != '"' {
				return errMalformed
			}
			t.kid, t.hasKid = jsonString(m.value), true
		case "typ":
			t.refresh = m.value[0] == '"' && isRefreshType(jsonString(m.value))
		case "crit", "b64":
			t.headerErr = errHeader
		}
	}
	return nil
}

func (t *parsedToken) readClaims() error {
	var members [maxMembers]jsonMember
	n, inner, err := scanObject(t.payload, &members)
	if err != nil {
		return errMalformed
	}
	t.inner = inner
	for _, m := range members[:n] {
		switch name := string(memberName(m)); name {
		case "exp":
			t.exp = readNumericDate(m.value)
		case "nbf":
			t.nbf = readNumericDate(m.value)
		case "iat":
			t.iat = readNumericDate(m.value)
		case "iss":
			t.iss = m.value
		case "aud":
			t.aud = m.value
		case "sub", "jti", "sid":
			if m.value[0] != '"' {
				continue
			}
			switch s := jsonString(m.value); name {
			case "sub":
				t.sub = s
			case "jti":
				t.jti = s
			default:
				t.sid = s
			}
		}
	}
	return nil
}

// checkNested refuses a verified token whose claims give a member name
// twice inside a nested object (scanObject compares the top-level names
// only): a rule on realm_access.roles must not depend on which copy a
// reader keeps. It runs only for tokens with nested members, once per
// token (the identity is cached), and keeps the map it decodes.
func (t *parsedToken) checkNested() error {
	if t.inner == 0 {
		return nil
	}
	claims, err := decodeScanned(t.payload, t.inner)
	if err != nil {
		return errMalformed
	}
	t.claims = claims
	return nil
}

// readNumericDate reads a time claim as golang-jwt does: a JSON number of
// seconds, truncated to the second; anything else is bad.
func readNumericDate(raw []byte) numericDate {
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
		return numericDate{set: true, t: time.Unix(secs, 0)}
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return numericDate{set: true, bad: true}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
		return numericDate{set: true, bad: true}
	}
	whole2, frac := math.Modf(f)
	return numericDate{set: true, t: time.Unix(int64(whole2), int64(frac*1e9)).Truncate(time.Second)}
}

// checkSignature refuses headers caddyjwt never honours — crit (extensions
// it does not understand), b64 (RFC 7797 unencoded payloads), a refresh
// token where an access token is due and the reverse — then picks the key
// by kid and alg and checks the signature. jku, x5u, jwk and x5c are never
// read.
func (t *parsedToken) checkSignature(ring *keyRing, refresh bool) error {
	if !slices.Contains(allAlgorithms, t.alg) || (!ring.remote && !ring.accepts(t.alg)) {
		return errAlgorithm // with remote sets, a new alg may come with a new kid
	}
	if t.headerErr != nil {
		return t.headerErr
	}
	if t.refresh != refresh {
		return errTokenType
	}
	keys, err := ring.lookupKey(t.kid, t.hasKid, t.alg)
	if err != nil {
		return err
	}
	if set, ok := keys.(jwt.VerificationKeySet); ok {
		for _, k := range set.Keys {
			if verifySignature(t.alg, t.signingInput, t.signature, k) {
				return nil
			}
		}
		return errSignature
	}
	if !verifySignature(t.alg, t.signingInput, t.signature, keys) {
		return errSignature
	}
	return nil
}

// hashes are the hash functions of the algorithms by their suffix.
var hashes = map[byte]crypto.Hash{'6': crypto.SHA256, '4': crypto.SHA384, '2': crypto.SHA512}

// verifySignature checks a JWS signature with the standard library, as
// RFC 7518 defines each algorithm (the same checks golang-jwt's signing
// methods make, without copying the signing input). A key of the wrong
// type never verifies.
func verifySignature(alg string, input, sig []byte, key any) bool {
	if alg == "EdDSA" {
		pub, ok := key.(ed25519.PublicKey)
		return ok && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, input, sig)
	}
	hash := hashes[alg[len(alg)-1]]
	switch alg[:2] {
	case "HS":
		secret, ok := key.([]byte)
		if !ok {
			return false
		}
		mac := hmac.New(hash.New, secret)
		mac.Write(input)
		return hmac.Equal(sig, mac.Sum(nil))
	case "RS", "PS":
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return false
		}
		digest := digestOf(hash, input)
		if alg[0] == 'P' {
			return rsa.VerifyPSS(pub, hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		}
		return rsa.VerifyPKCS1v15(pub, hash, digest, sig) == nil
	case "ES":
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digestOf(hash, input), r, s)
	}
	return false
}

func digestOf(hash crypto.Hash, input []byte) []byte {
	switch hash {
	case crypto.SHA256:
		sum := sha256.Sum256(input)
		return sum[:]
	case crypto.SHA384:
		sum := sha512.Sum384(input)
		return sum[:]
	}
	sum := sha512.Sum512(input)
	return sum[:]
}

// checkTimes checks exp (required unless allowed missing), nbf and iat
// with leeway, in golang-jwt's order of precedence.
func (t *parsedToken) checkTimes(at time.Time, leeway time.Duration, allowMissingExp bool) error {
	switch {
	case t.exp.bad || t.nbf.bad || t.iat.bad:
		return errClaimType
	case t.exp.set && !at.Before(t.exp.t.Add(leeway)):
		return errExpired
	case t.nbf.set && at.Before(t.nbf.t.Add(-leeway)), t.iat.set && at.Before(t.iat.t.Add(-leeway)):
		return errNotYetValid
	case !t.exp.set && !allowMissingExp:
		return errExpMissing
	}
	return nil
}
