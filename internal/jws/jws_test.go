package jws

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// testSecret is an HMAC key for the tests, 32 bytes.
var testSecret = []byte("a test secret of thirty-two byte")

// hs256 signs header and claims, given as JSON text, with testSecret.
func hs256(t testing.TB, header, claims string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(input, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestSplitCompact(t *testing.T) {
	good := hs256(t, `{"alg":"HS256","typ":"JWT"}`, seedClaims)
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"compact", good, true},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], false},
		{"plus", parts[0] + "." + parts[1] + "+." + parts[2], false},
		{"slash", parts[0] + "." + parts[1] + "." + parts[2] + "/", false},
		{"CR inside", parts[0] + "." + parts[1][:4] + "\r" + parts[1][4:] + "." + parts[2], false},
		{"LF inside", parts[0] + "." + parts[1] + "\n." + parts[2], false},
		{"space", parts[0] + ". " + parts[1] + "." + parts[2], false},
		{"two parts", parts[0] + "." + parts[1], false},
		{"four parts", good + ".x", false},
		{"JWE five parts", "a.b.c.d.e", false},
		{"empty signature", parts[0] + "." + parts[1] + ".", false},
		{"empty payload", parts[0] + ".." + parts[2], false},
		{"JSON serialization", `{"payload":"x","signatures":[]}`, false},
		{"16 KiB", "a." + strings.Repeat("b", MaxTokenBytes-4) + ".c", true},
		{"over 16 KiB", "a." + strings.Repeat("b", MaxTokenBytes) + ".c", false},
	} {
		_, _, err := SplitCompact(tc.tok)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
