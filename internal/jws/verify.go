package jws

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier holds what a valid token must say, configured once.
type Verifier struct {
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration
	// AllowMissingExp accepts tokens without exp.
	AllowMissingExp bool
	// MaxLifetime, when positive, refuses tokens whose exp lies further
	// ahead than this.
	MaxLifetime time.Duration
	// Issuers, when set, are the accepted iss values.
	Issuers []string
	// Audiences, when set, are the accepted aud values; a token's aud (a
	// string or an array of strings) must hold one.
	Audiences []string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// methods are golang-jwt's signing methods by algorithm.
var methods = func() map[string]jwt.SigningMethod {
	m := make(map[string]jwt.SigningMethod, len(Algorithms))
	for _, alg := range Algorithms {
		m[alg] = jwt.GetSigningMethod(alg)
	}
	return m
}()

// Verify checks a token completely: its form, header and claims (Parse),
// the key its kid and alg pick from keys, its signature, its time claims,
// then issuer, audience, lifetime, and duplicate names in nested claims.
// refresh says which kind of token is due: a refresh token (typ
// refresh+jwt) is never an access token, nor the reverse.
func (v *Verifier) Verify(raw string, keys *KeySet, refresh bool) (*Token, error) {
	t, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := t.checkSignature(keys, refresh); err != nil {
		return nil, err
	}
	at := v.now()
	if err := t.checkTimes(at, v.Leeway, v.AllowMissingExp); err != nil {
		return nil, err
	}
	if err := v.checkIssuerAudience(t.Iss, t.Aud); err != nil {
		return nil, err
	}
	if v.MaxLifetime > 0 && (!t.Exp.Set || t.Exp.Time.After(at.Add(v.MaxLifetime+v.Leeway))) {
		return nil, ErrLifetime
	}
	if err := t.checkNested(); err != nil {
		return nil, err
	}
	return t, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkSignature refuses headers never honoured — crit (extensions not
// understood), b64 (RFC 7797 unencoded payloads), a token of the other
// kind — then picks the keys by kid, alg and issuer and checks the
// signature with golang-jwt's signing method for the alg. jku, x5u, jwk
// and x5c are never read.
func (t *Token) checkSignature(keys *KeySet, refresh bool) error {
	method := methods[t.Alg]
	if method == nil {
		return ErrAlgorithm
	}
	if t.headerErr != nil {
		return t.headerErr
	}
	if t.Refresh != refresh { // before the keys: each kind has keys of its own
		return ErrTokenType
	}
	if !keys.remote && !keys.Accepts(t.Alg) {
		return ErrAlgorithm // with remote sets, a new alg may come with a new kid
	}
	candidates, err := keys.lookup(t.Kid, t.HasKid, t.Alg)
	if err != nil {
		return err
	}
	iss, hasIss := "", len(t.Iss) > 0 && t.Iss[0] == '"'
	if hasIss {
		iss = jsonString(t.Iss)
	}
	spoken := false
	for _, k := range candidates {
		if !k.Serves(t.Alg) || !k.speaksFor(iss, hasIss) {
			continue
		}
		spoken = true
		if method.Verify(t.signingInput, t.signature, k.Public) == nil {
			return nil
		}
	}
	if !spoken {
		return ErrIssuer // keys for this alg exist, but none speaks for this iss
	}
	return ErrSignature
}

// checkTimes checks the registered claims' types (RFC 7519: exp, nbf and
// iat numbers; sub, iss, jti and sid strings, sub not empty; aud a string
// or an array of strings), then exp with leeway, then that neither nbf nor
// iat lies after exp (a token issued after it expired is refused even
// inside the leeway), then nbf and iat with leeway, and that exp is there
// unless allowed missing.
func (t *Token) checkTimes(at time.Time, leeway time.Duration, allowMissingExp bool) error {
	switch {
	case t.Exp.Bad || t.Nbf.Bad || t.Iat.Bad || t.badType:
		return ErrClaimType
	case t.Exp.Set && !at.Before(t.Exp.Time.Add(leeway)):
		return ErrExpired
	case t.Exp.Set && (t.Nbf.Set && t.Nbf.Time.After(t.Exp.Time) || t.Iat.Set && t.Iat.Time.After(t.Exp.Time)):
		return ErrClaimType
	case t.Nbf.Set && at.Before(t.Nbf.Time.Add(-leeway)), t.Iat.Set && at.Before(t.Iat.Time.Add(-leeway)):
		return ErrNotYetValid
	case !t.Exp.Set && !allowMissingExp:
		return ErrExpMissing
	}
	return nil
}

// checkIssuerAudience checks iss against the accepted issuers and aud (a
// string or an array of strings) against the accepted audiences, each
// when configured. Values are raw JSON.
func (v *Verifier) checkIssuerAudience(iss, aud []byte) error {
	if len(v.Issuers) > 0 && (len(iss) == 0 || iss[0] != '"' || !slices.Contains(v.Issuers, jsonString(iss))) {
		return ErrIssuer
	}
	if len(v.Audiences) == 0 {
		return nil
	}
	if len(aud) > 0 && aud[0] == '"' {
		if slices.Contains(v.Audiences, jsonString(aud)) {
			return nil
		}
		return ErrAudience
	}
	var list []string
	if len(aud) == 0 || json.Unmarshal(aud, &list) != nil ||
		!slices.ContainsFunc(list, func(a string) bool { return slices.Contains(v.Audiences, a) }) {
		return ErrAudience
	}
	return nil
}
