package integration

// Attacks on the guard's limits and claims (see the table in
// attack_test.go): sizes, JSON nesting and members, time claims, and
// tokens of another issuer's key.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAttackSize: a validly signed token over 16 KiB is refused before it
// is decoded, in every source and up to sizes only a raised
// max_header_size lets through; a request whose header block is over
// Caddy's limit (16 KiB by default, plus net/http's 4 KiB of slack) is
// answered 431 by net/http before any handler runs.
func TestAttackSize(t *testing.T) {
	signed := func(n int) string {
		tok := attackHS(`{"alg":"HS256"}`, attackClaims(`,"pad":"`+strings.Repeat("a", n)+`"`))
		return tok
	}
	send := func(name, value string) response {
		return rawRequest(t, "GET /?x=1 HTTP/1.1\r\nHost: "+siteHost+"\r\n"+name+": "+value+"\r\nConnection: close\r\n\r\n")
	}
	t.Run("default header limit", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		tok := signed(13500) // about 18 KiB
		if len(tok) < 17<<10 || len(tok) > 19<<10 {
			t.Fatalf("token is %d bytes", len(tok))
		}
		wantInvalid(t, "a signed token of 18 KiB in Authorization", send("Authorization", "Bearer "+tok), "malformed", "token malformed")
		wantInvalid(t, "a signed token of 18 KiB in the cookie", send("Cookie", "access_token="+tok), "malformed", "token malformed")
		if r := send("Authorization", "Bearer "+signed(24<<10)); r.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a token of 32 KiB: got %d %q, want 431", r.Status, r.Body)
		}
		var many strings.Builder
		for i := 0; i < 64; i++ {
			fmt.Fprintf(&many, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 1000))
		}
		r := rawRequest(t, "GET / HTTP/1.1\r\nHost: "+siteHost+"\r\n"+many.String()+"Authorization: Bearer "+signed(10)+"\r\nConnection: close\r\n\r\n")
		if r.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 headers of 1000 bytes beside a valid token: got %d %q, want 431", r.Status, r.Body)
		}
		wantOK(t, "a valid token after the oversized requests", get(t, "/", bearer(signed(10))), "ok alice")
	})
	t.Run("max_header_size 8MB", func(t *testing.T) {
		startCaddy(t, globalBlockWith("\tservers {\n\t\tmax_header_size 8MB\n\t}")+"\n"+baseURL+" {\n\tjwt_auth {\n"+
			lines("secret "+hmac64, "from header Authorization", "from cookie access_token", "from query t")+
			"\n\t}\n\trespond \"ok {http.auth.user.id}\" 200\n"+errorsBlock+"}\n")
		wantOK(t, "sanity", get(t, "/", bearer(signed(10))), "ok alice")
		mib := signed(3 << 18)  // a validly signed token of 1 MiB
		four := signed(3 << 20) // and of 4 MiB
		wantInvalid(t, "a signed token of 1 MiB in Authorization", send("Authorization", "Bearer "+mib), "malformed", "token malformed")
		wantInvalid(t, "a signed token of 4 MiB in Authorization", send("Authorization", "Bearer "+four), "malformed", "token malformed")
		wantInvalid(t, "a signed token of 1 MiB in the cookie", send("Cookie", "access_token="+mib), "malformed", "token malformed")
		r := rawRequest(t, "GET /?t="+mib+" HTTP/1.1\r\nHost: "+siteHost+"\r\nConnection: close\r\n\r\n")
		wantInvalid(t, "a signed token of 1 MiB in the query", r, "malformed", "token malformed")
		wantInvalid(t, "1 MiB of dots", send("Authorization", "Bearer "+strings.Repeat(".", 1<<20)), "malformed", "token malformed")
	})
}

// TestAttackJSONLimits: nesting deeper than 32 (counting the outer
// object) and more than 64 top-level members are refused in the header
// and in the claims, however the token is signed; a very deep token is
// refused without harm to the server.
func TestAttackJSONLimits(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	arrays := func(d int) string { return strings.Repeat("[", d) + "1" + strings.Repeat("]", d) }
	objects := func(d int) string { return strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d) }
	members := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, `,"m%d":%d`, i, i)
		}
		return sb.String()
	}
	hdr := func(more string) string { return `{"alg":"HS256"` + more + `}` }
	ok := func(name, tok string) {
		t.Helper()
		wantOK(t, name, get(t, "/", bearer(tok)), "ok alice")
	}
	// the outer object is depth 1, so a member value may nest 31 more
	ok("header: arrays 31 deep in a member", attackHS(hdr(`,"x":`+arrays(31)), attackClaims("")))
	ok("claims: arrays 31 deep in a member", attackHS(hdr(""), attackClaims(`,"x":`+arrays(31))))
	ok("claims: objects 31 deep in a member", attackHS(hdr(""), attackClaims(`,"x":`+objects(31))))
	ok("header: 64 members", attackHS(hdr(members(63)), attackClaims("")))
	ok("claims: 64 members", attackHS(hdr(""), attackClaims(members(61))))
	mal := func(name, tok string) attackRow { return attackRow{name, tok, "malformed", "token malformed"} }
	attackRun(t, []attackRow{
		mal("header: arrays 32 deep in a member", attackHS(hdr(`,"x":`+arrays(32)), attackClaims(""))),
		mal("claims: arrays 32 deep in a member", attackHS(hdr(""), attackClaims(`,"x":`+arrays(32)))),
		mal("claims: objects 32 deep in a member", attackHS(hdr(""), attackClaims(`,"x":`+objects(32)))),
		mal("claims: arrays 5000 deep", attackHS(hdr(""), attackClaims(`,"x":`+arrays(5000)))),
		mal("claims: objects 1500 deep", attackHS(hdr(""), attackClaims(`,"x":`+objects(1500)))),
		mal("claims: 8000 unclosed brackets", attackHS(hdr(""), attackClaims(`,"x":`+strings.Repeat("[", 8000)))),
		mal("header: 65 members", attackHS(hdr(members(64)), attackClaims(""))),
		mal("claims: 65 members", attackHS(hdr(""), attackClaims(members(62)))),
		mal("claims: 1000 members", attackHS(hdr(""), attackClaims(members(997)))),
	}, nil)
	ok("still serving", hs(t, "alice", nil))
}

// TestAttackTimeClaims: exp, nbf and iat that are not plain numbers of
// seconds in range — null, booleans, arrays, objects, strings, numbers
// beyond ±2^62 (1e400, 2^63, 1e300, which would wrap if converted
// blindly: an nbf of 1e300 must not become the distant past) — are
// refused as the wrong type; fractional and exponent forms are numbers
// (RFC 7519 NumericDate) and are honoured.
func TestAttackTimeClaims(t *testing.T) {
	now := time.Now().Unix()
	tok := func(members string) string {
		return attackHS(`{"alg":"HS256"}`, `{"sub":"alice"`+members+`}`)
	}
	exp := fmt.Sprintf(`,"exp":%d`, now+600)
	wrong := func(name, members string) attackRow {
		return attackRow{name, tok(members), "bad_claims", "claim has wrong type"}
	}
	var rows []attackRow
	for _, claim := range []string{"exp", "nbf", "iat"} {
		others := exp
		if claim == "exp" {
			others = ""
		}
		for _, v := range []string{"null", "true", "false", `""`, `"0"`, "[]", fmt.Sprintf("[%d]", now), "{}",
			"1e400", "-1e400", "1e300", "-1e300", "9223372036854775808", "9223372036854775807", "-9223372036854775809",
			"18446744073709551616", "1" + strings.Repeat("0", 40)} {
			rows = append(rows, wrong(claim+" "+v, others+`,"`+claim+`":`+v))
		}
	}
	t.Run("defaults", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		wantOK(t, "sanity", get(t, "/", bearer(tok(exp))), "ok alice")
		wantOK(t, "exp with a fraction", get(t, "/", bearer(tok(fmt.Sprintf(`,"exp":%d.75`, now+600)))), "ok alice")
		wantOK(t, "exp in exponent form (1e10, the year 2286)", get(t, "/", bearer(tok(`,"exp":1e10`))), "ok alice")
		wantOK(t, "exp 1E+10", get(t, "/", bearer(tok(`,"exp":1E+10`))), "ok alice")
		wantOK(t, "nbf in the past with a fraction", get(t, "/", bearer(tok(exp+fmt.Sprintf(`,"nbf":%d.5`, now-120)))), "ok alice")
		wantOK(t, "exp 18 digits (far future)", get(t, "/", bearer(tok(`,"exp":999999999999999999`))), "ok alice")
		attackRun(t, rows, nil)
		attackRun(t, []attackRow{
			{"exp -1", tok(`,"exp":-1`), "expired", "token expired"},
			{"exp 0", tok(`,"exp":0`), "expired", "token expired"},
			{"exp -0", tok(`,"exp":-0`), "expired", "token expired"},
			{"exp 1e-400", tok(`,"exp":1e-400`), "expired", "token expired"},
			{"exp a minute ago with a fraction", tok(fmt.Sprintf(`,"exp":%d.9`, now-61)), "expired", "token expired"},
			{"nbf two minutes ahead with a fraction", tok(exp + fmt.Sprintf(`,"nbf":%d.5`, now+120)), "not_yet_valid", "token not yet valid"},
			{"iat two minutes ahead with a fraction", tok(exp + fmt.Sprintf(`,"iat":%d.25`, now+120)), "not_yet_valid", "token not yet valid"},
			// After exp: a token valid from after it expires is refused as
			// such (issue 19), not as merely early.
			{"nbf 4e18", tok(exp + `,"nbf":4e18`), "bad_claims", "claim has wrong type"},
			{"iat 999999999999999999", tok(exp + `,"iat":999999999999999999`), "bad_claims", "claim has wrong type"},
			{"exp 0x7fffffff in hex (not JSON)", tok(`,"exp":0x7fffffff`), "malformed", "token malformed"},
			{"exp with a leading zero (not JSON)", tok(fmt.Sprintf(`,"exp":0%d`, now+600)), "malformed", "token malformed"},
			{"exp with a plus sign (not JSON)", tok(fmt.Sprintf(`,"exp":+%d`, now+600)), "malformed", "token malformed"},
			{"exp NaN (not JSON)", tok(`,"exp":NaN`), "malformed", "token malformed"},
			{"exp Infinity (not JSON)", tok(`,"exp":Infinity`), "malformed", "token malformed"},
		}, nil)
	})
	t.Run("allow_missing_exp", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "allow_missing_exp")))
		wantOK(t, "no exp", get(t, "/", bearer(tok(""))), "ok alice")
		// a wrong-typed exp is not a missing exp
		attackRun(t, rows, nil)
	})
	t.Run("max_lifetime", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "max_lifetime 1h")))
		wantOK(t, "sanity", get(t, "/", bearer(tok(exp))), "ok alice")
		attackRun(t, []attackRow{
			{"exp 999999999999999999", tok(`,"exp":999999999999999999`), "bad_claims", "lifetime too long"},
			{"exp 4e18", tok(`,"exp":4e18`), "bad_claims", "lifetime too long"},
			{"exp 1e10", tok(`,"exp":1e10`), "bad_claims", "lifetime too long"},
			{"exp 1e300", tok(`,"exp":1e300`), "bad_claims", "claim has wrong type"},
		}, nil)
	})
}

// TestAttackForeignKey: a token signed by another issuer's key of the
// right type — with no kid (so every configured key of that type is
// tried, one or several), with an unknown kid, and with the kid of a
// configured key.
func TestAttackForeignKey(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, pub any) string { return writeFile(t, dir, name, pkixPEM(t, pub)) }
	r1, r2 := file("r1.pem", &k.rsa.PublicKey), file("r2.pem", &k.rsaOther.PublicKey)
	e1, e2 := file("e1.pem", &k.ec256.PublicKey), file("e2.pem", &k.ec256b.PublicKey)
	d1, d2 := file("d1.pem", k.ed.Public()), file("d2.pem", k.edOther.Public())
	payload := claims("alice", map[string]any{"role": "admin"})
	sig := func(m jwt.SigningMethod, key any, kid string) string {
		var h map[string]any
		if kid != "" {
			h = map[string]any{"kid": kid}
		}
		return mint(t, m, key, payload, h)
	}
	bad := func(name, tok string) attackRow { return attackRow{name, tok, "bad_signature", "signature invalid"} }
	unknown := func(name, tok string) attackRow { return attackRow{name, tok, "bad_signature", "unknown signing key"} }

	t.Run("one key of each type", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "key "+r1, "key "+e1, "key "+d1)))
		wantOK(t, "RS256 sanity", get(t, "/", bearer(sig(jwt.SigningMethodRS256, k.rsa, ""))), "ok alice")
		attackRun(t, []attackRow{
			bad("RS256 by another RSA key", sig(jwt.SigningMethodRS256, k.rsaOther, "")),
			bad("PS256 by another RSA key", sig(jwt.SigningMethodPS256, k.rsaOther, "")),
			bad("RS256 by a 1024-bit key", sig(jwt.SigningMethodRS256, k.rsaSmall, "")),
			bad("ES256 by another P-256 key", sig(jwt.SigningMethodES256, otherEC, "")),
			bad("EdDSA by another Ed25519 key", sig(jwt.SigningMethodEdDSA, otherEd, "")),
			bad("HS256 by another secret", sig(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 64)), "")),
			bad("RS256 by another key, unknown kid (kid-less keys are tried)", sig(jwt.SigningMethodRS256, k.rsaOther, "idp-2024")),
		}, nil)
	})
	t.Run("several keys of each type", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+r1, "key "+r2, "key "+e1, "key "+e2, "key "+d1, "key "+d2)))
		wantOK(t, "RS256 by the second key", get(t, "/", bearer(sig(jwt.SigningMethodRS256, k.rsaOther, ""))), "ok alice")
		wantOK(t, "ES256 by the second key", get(t, "/", bearer(sig(jwt.SigningMethodES256, k.ec256b, ""))), "ok alice")
		wantOK(t, "EdDSA by the second key", get(t, "/", bearer(sig(jwt.SigningMethodEdDSA, k.edOther, ""))), "ok alice")
		attackRun(t, []attackRow{
			bad("RS256 by a third key", sig(jwt.SigningMethodRS256, k.rsaSmall, "")),
			bad("ES256 by a third key", sig(jwt.SigningMethodES256, otherEC, "")),
			bad("EdDSA by a third key", sig(jwt.SigningMethodEdDSA, otherEd, "")),
		}, nil)
	})
	t.Run("keys with kids", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("key "+r1+" r1", "key "+e1+" e1", "key "+d1+" d1")))
		wantOK(t, "RS256 r1 sanity", get(t, "/", bearer(sig(jwt.SigningMethodRS256, k.rsa, "r1"))), "ok alice")
		attackRun(t, []attackRow{
			bad("RS256 naming r1, by another RSA key", sig(jwt.SigningMethodRS256, k.rsaOther, "r1")),
			bad("ES256 naming e1, by another P-256 key", sig(jwt.SigningMethodES256, otherEC, "e1")),
			bad("EdDSA naming d1, by another Ed25519 key", sig(jwt.SigningMethodEdDSA, otherEd, "d1")),
			bad("RS256 without kid, by another RSA key", sig(jwt.SigningMethodRS256, k.rsaOther, "")),
			unknown("RS256 with an unknown kid, by another RSA key", sig(jwt.SigningMethodRS256, k.rsaOther, "r2")),
		}, nil)
	})
}
