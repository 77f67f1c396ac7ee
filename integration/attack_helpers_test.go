package integration

// Helpers for attack_test.go: tokens written from raw JSON text (for
// duplicate names, odd numbers and deep nesting that no encoder makes),
// signers for every algorithm that can also be handed a chosen signature,
// and a table runner. They build on the shared helpers in
// integration_helpers_test.go (textToken, hmacSignerFor, echoServer).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/big"
	"net/http"
	"testing"
	"time"
)

// attackSeg is the base64url text of s.
func attackSeg(s string) string { return b64u.EncodeToString([]byte(s)) }

// attackHS is a token from raw header and payload texts, HS256 under hmac64.
func attackHS(hdr, payload string) string {
	return textToken(hdr, payload, hmacSigner([]byte(hmac64)))
}

// attackClaims is the text of valid claims for alice (exp in ten minutes,
// iat now) followed by more members; more starts with a comma.
func attackClaims(more string) string {
	now := time.Now().Unix()
	return fmt.Sprintf(`{"sub":"alice","exp":%d,"iat":%d%s}`, now+600, now, more)
}

// attackDigest hashes input with h.
func attackDigest(h crypto.Hash, input string) []byte {
	d := h.New()
	d.Write([]byte(input))
	return d.Sum(nil)
}

// attackRS signs with RSA PKCS #1 v1.5 (or PSS) and hash h.
func attackRS(t *testing.T, k *rsa.PrivateKey, h crypto.Hash, pss bool) func(string) []byte {
	return func(input string) []byte {
		var sig []byte
		var err error
		if pss {
			sig, err = rsa.SignPSS(rand.Reader, k, h, attackDigest(h, input), nil)
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, attackDigest(h, input))
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// attackRandS signs with ECDSA and hash h, and returns r and s as numbers.
func attackRandS(t *testing.T, k *ecdsa.PrivateKey, h crypto.Hash, input string) (r, s *big.Int) {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, k, attackDigest(h, input))
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// attackES signs with ECDSA and hash h, as JWS does: r and s, each the
// size of the key's curve, big-endian, one after the other.
func attackES(t *testing.T, k *ecdsa.PrivateKey, h crypto.Hash) func(string) []byte {
	return func(input string) []byte {
		r, s := attackRandS(t, k, h, input)
		return attackRS2(k, r, s)
	}
}

// attackRS2 writes r||s at the size of k's curve.
func attackRS2(k *ecdsa.PrivateKey, r, s *big.Int) []byte {
	size := (k.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out
}

// attackEd signs with Ed25519.
func attackEd(k ed25519.PrivateKey) func(string) []byte {
	return func(input string) []byte { return ed25519.Sign(k, []byte(input)) }
}

// attackSig is a fixed signature, whatever the input.
func attackSig(sig []byte) func(string) []byte {
	return func(string) []byte { return sig }
}

// attackRow is one attack: a token that the guard must refuse with the
// given reason and, when desc is set, exactly that description (else any
// of the fixed phrases).
type attackRow struct {
	name   string
	tok    string
	reason string
	desc   string
}

// attackRun sends each row's token with opt (bearer when nil) to path /
// and checks the refusal.
func attackRun(t *testing.T, rows []attackRow, opt func(string) reqOpt) {
	t.Helper()
	if opt == nil {
		opt = bearer
	}
	for _, row := range rows {
		r := get(t, "/", opt(row.tok))
		if row.desc != "" {
			wantInvalid(t, row.name, r, row.reason, row.desc)
		} else {
			wantInvalidReason(t, row.name, r, row.reason)
		}
	}
}

// attackQuery sends a token in the query parameter t, escaped, for tokens
// that a header cannot carry (CR, LF).
func attackQuery(tok string) reqOpt {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set("t", tok)
		r.URL.RawQuery = q.Encode()
	}
}
