package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// at is the verifiers' clock in these tests.
var at = time.Unix(1_750_000_000, 0)

func testVerifier() *Verifier {
	return &Verifier{Leeway: 30 * time.Second, Now: func() time.Time { return at }}
}

func hmacSet(issuers ...string) *KeySet {
	return NewKeySet([]*Key{{ID: "k", AnyID: true, Algs: []string{"HS256"}, Public: testSecret, Issuers: issuers}}, false)
}

// claimsWith are valid claims at `at` with extra members appended as
// JSON text (a later duplicate would be refused, so callers add only new
// names).
func claimsWith(extra string) string {
	c := fmt.Sprintf(`{"exp":%d,"iat":%d`, at.Unix()+600, at.Unix())
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

// TestUnicodeIsNeverRepaired: a string that decoders would repair into
// U+FFFD (a lone surrogate escape, invalid UTF-8) is refused as
// malformed, in the header and in the claims, so that two different
// tokens can never read as one identity.
func TestUnicodeIsNeverRepaired(t *testing.T) {
	for _, tc := range []struct {
		name, header, claims string
		want                 error
	}{
		{"plain", `{"alg":"HS256"}`, claimsWith(`"sub":"alice"`), nil},
		{"pair", `{"alg":"HS256"}`, claimsWith(`"sub":"al\ud83d\ude00ice"`), nil},
		{"escaped ascii", `{"alg":"HS256"}`, claimsWith(`"sub":"\u0061lice"`), nil},
		{"lone high", `{"alg":"HS256"}`, claimsWith(`"sub":"al\ud800ice"`), ErrMalformed},
		{"lone low", `{"alg":"HS256"}`, claimsWith(`"sub":"al\udfffice"`), ErrMalformed},
		{"high at end", `{"alg":"HS256"}`, claimsWith(`"sub":"alice\udbff"`), ErrMalformed},
		{"high then ascii escape", `{"alg":"HS256"}`, claimsWith(`"sub":"\ud800\u0061"`), ErrMalformed},
		{"low then high", `{"alg":"HS256"}`, claimsWith(`"sub":"\udc00\ud800"`), ErrMalformed},
		{"invalid UTF-8", `{"alg":"HS256"}`, claimsWith("\"sub\":\"al\xffice\""), ErrMalformed},
		{"overlong UTF-8", `{"alg":"HS256"}`, claimsWith("\"sub\":\"\xc0\xafx\""), ErrMalformed},
		{"surrogate as UTF-8", `{"alg":"HS256"}`, claimsWith("\"sub\":\"\xed\xa0\x80\""), ErrMalformed},
		{"nested", `{"alg":"HS256"}`, claimsWith(`"o":{"n":["\ud800"]}`), ErrMalformed},
		{"member name", `{"alg":"HS256"}`, claimsWith(`"\udfff":1`), ErrMalformed},
		{"header kid", `{"alg":"HS256","kid":"\ud800"}`, claimsWith(""), ErrMalformed},
		{"header typ", "{\"alg\":\"HS256\",\"typ\":\"\xff\"}", claimsWith(""), ErrMalformed},
	} {
		_, err := testVerifier().Verify(hs256(t, tc.header, tc.claims), hmacSet(), false)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestRegisteredClaimTypes: sub, iss, jti (and sid, which caddyjwt
// revokes logins by) are strings, sub not empty; aud a string or an array
// of strings — checked whether or not a rule mentions them.
func TestRegisteredClaimTypes(t *testing.T) {
	wrong := []string{`123`, `1.5`, `["alice"]`, `{"a":"alice"}`, `true`, `null`}
	for _, name := range []string{"sub", "iss", "jti", "sid"} {
		for _, v := range wrong {
			_, err := testVerifier().Verify(hs256(t, `{"alg":"HS256"}`, claimsWith(`"`+name+`":`+v)), hmacSet(), false)
			if err != ErrClaimType {
				t.Errorf("%s %s: %v, want ErrClaimType", name, v, err)
			}
		}
		if _, err := testVerifier().Verify(hs256(t, `{"alg":"HS256"}`, claimsWith(`"`+name+`":"x"`)), hmacSet(), false); err != nil {
			t.Errorf("%s string: %v", name, err)
		}
	}
	if _, err := testVerifier().Verify(hs256(t, `{"alg":"HS256"}`, claimsWith(`"sub":""`)), hmacSet(), false); err != ErrClaimType {
		t.Errorf(`sub "": %v, want ErrClaimType`, err)
	}
	for v, ok := range map[string]bool{
		`"api"`: true, `["api"]`: true, `[]`: true, `["api","web"]`: true, `["nullable"]`: true,
		`123`: false, `["api",1]`: false, `["api",null]`: false, `[["api"]]`: false, `{"a":"api"}`: false, `null`: false, `true`: false,
	} {
		_, err := testVerifier().Verify(hs256(t, `{"alg":"HS256"}`, claimsWith(`"aud":`+v)), hmacSet(), false)
		if (err == nil) != ok || (!ok && err != ErrClaimType) {
			t.Errorf("aud %s: %v, want ok=%v", v, err, ok)
		}
	}
}

// TestTimesInOrder: nbf or iat after exp is refused even when each alone
// is inside the leeway.
func TestTimesInOrder(t *testing.T) {
	now := at.Unix()
	for _, tc := range []struct {
		claims string
		want   error
	}{
		{fmt.Sprintf(`{"exp":%d,"nbf":%d,"iat":%d}`, now+10, now, now), nil},
		{fmt.Sprintf(`{"exp":%d,"nbf":%d}`, now+10, now+10), nil},
		{fmt.Sprintf(`{"exp":%d,"nbf":%d}`, now+10, now+20), ErrClaimType},
		{fmt.Sprintf(`{"exp":%d,"iat":%d}`, now+10, now+20), ErrClaimType},
		{fmt.Sprintf(`{"exp":%d,"nbf":%d}`, now-5, now+5), ErrClaimType},
	} {
		if _, err := testVerifier().Verify(hs256(t, `{"alg":"HS256"}`, tc.claims), hmacSet(), false); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.claims, err, tc.want)
		}
	}
}

// TestKeysSpeakForTheirIssuers: a key bound to issuers verifies only
// tokens naming one of them; one provider's key never speaks for another.
func TestKeysSpeakForTheirIssuers(t *testing.T) {
	provider, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := NewKeySet([]*Key{
		{ID: "site", Algs: []string{"HS256"}, Public: testSecret, Issuers: []string{"https://site.test"}},
		{ID: "b", Algs: []string{"ES256"}, Public: &provider.PublicKey, Issuers: []string{"https://b.test"}},
	}, false)
	es256 := func(header, claims string) string {
		input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodES256.Sign(input, provider)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"site key, site iss", hs256(t, `{"alg":"HS256","kid":"site"}`, claimsWith(`"iss":"https://site.test"`)), nil},
		{"provider key, its iss", es256(`{"alg":"ES256","kid":"b"}`, claimsWith(`"iss":"https://b.test"`)), nil},
		{"provider key, no kid", es256(`{"alg":"ES256"}`, claimsWith(`"iss":"https://b.test"`)), nil},
		{"provider key claims the site", es256(`{"alg":"ES256","kid":"b"}`, claimsWith(`"iss":"https://site.test"`)), ErrIssuer},
		{"provider key claims the site, no kid", es256(`{"alg":"ES256"}`, claimsWith(`"iss":"https://site.test"`)), ErrIssuer},
		{"site key claims the provider", hs256(t, `{"alg":"HS256","kid":"site"}`, claimsWith(`"iss":"https://b.test"`)), ErrIssuer},
		{"no iss", hs256(t, `{"alg":"HS256","kid":"site"}`, claimsWith("")), ErrIssuer},
	} {
		if _, err := testVerifier().Verify(tc.token, keys, false); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
