package caddyjwt

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// parseJWKs reads a JWK or a JWK set ({"keys": [...]}) into keys. Keys meant
// for encryption (use other than "sig") are left out; a key that does not
// parse is reported in skipped, so that a set with one odd key still serves
// the others.
func parseJWKs(data []byte, origin string) (keys []*key, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK or JWK set: %w", err)
	}
	raws := set.Keys
	if raws == nil {
		raws = []json.RawMessage{data}
	}
	for i, raw := range raws {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		k, err := newKey(jwk.Key, jwk.KeyID, jwk.Algorithm, origin)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, jwk.KeyID, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// parseJWKFile reads a local JWK file, where every key must parse.
func parseJWKFile(data []byte, origin string) ([]*key, error) {
	keys, skipped, err := parseJWKs(data, origin)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		return nil, errors.Join(skipped...)
	}
	if len(keys) == 0 {
		return nil, errors.New("no signature key in the JWK file")
	}
	return keys, nil
}
