package integration

// Where the guard reads a token and what it refuses before checking a
// signature: token sources, duplicate values, refused header parameters
// and malformed compact forms.

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIntegrationTokenSources: default sources, from header/cookie/query,
// source order, absent and empty values.
func TestIntegrationTokenSources(t *testing.T) {
	good := hs(t, "alice", nil)
	bad := "garbage"

	t.Run("defaults", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64)))
		wantOK(t, "Bearer", get(t, "/", header("Authorization", "Bearer "+good)), "ok alice")
		wantOK(t, "bearer", get(t, "/", header("Authorization", "bearer "+good)), "ok alice")
		wantOK(t, "BEARER", get(t, "/", header("Authorization", "BEARER "+good)), "ok alice")
		wantOK(t, "cookie access_token", get(t, "/", cookie("access_token", good)), "ok alice")
		wantOK(t, "Basic falls through to the cookie", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz"), cookie("access_token", good)), "ok alice")
		wantOK(t, "empty Bearer falls through to the cookie", get(t, "/", header("Authorization", "Bearer "), cookie("access_token", good)), "ok alice")
		wantInvalid(t, "bad header wins over a good cookie", get(t, "/", bearer(bad), cookie("access_token", good)), "malformed", "token malformed")
		wantMissing(t, "Basic only", get(t, "/", header("Authorization", "Basic dXNlcjpwYXNz")))
		wantMissing(t, "empty Bearer only", get(t, "/", header("Authorization", "Bearer ")))
		wantMissing(t, "empty cookie", get(t, "/", cookie("access_token", "")))
		wantMissing(t, "other cookie", get(t, "/", cookie("token", good)))
		wantMissing(t, "query is no default source", get(t, "/?access_token="+good))
		wantMissing(t, "X-Token is no default source", get(t, "/", header("X-Token", good)))
		wantInvalid(t, "two different access_token cookies", get(t, "/", header("Cookie", "access_token="+good+"; access_token="+hs(t, "bob", nil))), "malformed", "token malformed")
		wantOK(t, "header before cookie", get(t, "/", bearer(good), cookie("access_token", hs(t, "bob", nil))), "ok alice")
	})

	t.Run("from header X-Token", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from header X-Token")))
		wantOK(t, "bare token", get(t, "/", header("X-Token", good)), "ok alice")
		wantInvalid(t, "Bearer prefix in a bare header", get(t, "/", header("X-Token", "Bearer "+good)), "malformed", "token malformed")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "cookie not read", get(t, "/", cookie("access_token", good)))
	})

	t.Run("from cookie", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from cookie tok")))
		wantOK(t, "cookie tok", get(t, "/", cookie("tok", good)), "ok alice")
		wantOK(t, "among other cookies", get(t, "/", header("Cookie", "a=1; tok="+good+"; b=2")), "ok alice")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "default cookie not read", get(t, "/", cookie("access_token", good)))
		wantMissing(t, "empty cookie", get(t, "/", cookie("tok", "")))
	})

	t.Run("from query", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from query t")))
		wantOK(t, "query t", get(t, "/page?x=1&t="+good), "ok alice")
		wantMissing(t, "Authorization not read", get(t, "/", bearer(good)))
		wantMissing(t, "empty query value", get(t, "/?t="))
		wantInvalid(t, "bad query value", get(t, "/?t="+bad), "malformed", "token malformed")
	})

	t.Run("order", func(t *testing.T) {
		startCaddy(t, guardConfig(lines("secret "+hmac64, "from query t", "from header X-Token", "from cookie c")))
		wantInvalid(t, "bad query before a good header", get(t, "/?t="+bad, header("X-Token", good)), "malformed", "token malformed")
		wantOK(t, "no query, good header", get(t, "/", header("X-Token", good), cookie("c", bad)), "ok alice")
		wantInvalid(t, "bad header before a good cookie", get(t, "/", header("X-Token", bad), cookie("c", good)), "malformed", "token malformed")
		wantOK(t, "cookie only", get(t, "/", cookie("c", good)), "ok alice")
		wantOK(t, "good query before a bad header", get(t, "/?t="+good, header("X-Token", bad)), "ok alice")
		wantMissing(t, "none", get(t, "/", bearer(good)))
	})
}

// TestIntegrationDuplicateTokenValues: two different values for one source
// are refused, never picked from.
func TestIntegrationDuplicateTokenValues(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "from header Authorization", "from cookie access_token", "from query t", "from header X-Token")))
	a, b := hs(t, "alice", nil), hs(t, "bob", nil)
	wantInvalid(t, "two cookies", get(t, "/", header("Cookie", "access_token="+a+"; access_token="+b)), "malformed", "token malformed")
	wantInvalid(t, "two Cookie lines", get(t, "/", cookie("access_token", a), cookie("access_token", b)), "malformed", "token malformed")
	wantInvalid(t, "a good and a bad cookie value", get(t, "/", header("Cookie", "access_token="+a+"; access_token=garbage")), "malformed", "token malformed")
	wantInvalid(t, "two Authorization headers", get(t, "/", bearer(a), bearer(b)), "malformed", "token malformed")
	wantInvalid(t, "two query values", get(t, "/?t="+a+"&t="+b), "malformed", "token malformed")
	wantInvalid(t, "two X-Token headers", get(t, "/", header("X-Token", a), header("X-Token", b)), "malformed", "token malformed")
	wantOK(t, "the same cookie twice", get(t, "/", header("Cookie", "access_token="+a+"; access_token="+a)), "ok alice")
	wantOK(t, "one value each", get(t, "/?t="+a, cookie("access_token", a)), "ok alice")
}

// TestIntegrationRefusedHeaders: refresh tokens, crit and b64 headers, and
// JOSE headers that carry or point at keys.
func TestIntegrationRefusedHeaders(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	pub := writeFile(t, dir, "pub.pem", pkixPEM(t, &k.rsa.PublicKey))
	startCaddy(t, guardConfig(lines("key "+pub)))

	rs := func(key any, hdr map[string]any) reqOpt {
		return bearer(mint(t, jwt.SigningMethodRS256, key, claims("alice", nil), hdr))
	}
	wantOK(t, "typ JWT", get(t, "/", rs(k.rsa, map[string]any{"typ": "JWT"})), "ok alice")
	wantOK(t, "typ at+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "at+jwt"})), "ok alice")
	wantInvalid(t, "typ refresh+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "refresh+jwt"})), "bad_claims", "token type not accepted")
	// typ is a media type: compared case-insensitively, "application/" optional (RFC 7515 4.1.9)
	wantInvalid(t, "typ Refresh+JWT", get(t, "/", rs(k.rsa, map[string]any{"typ": "Refresh+JWT"})), "bad_claims", "token type not accepted")
	wantInvalid(t, "typ application/refresh+jwt", get(t, "/", rs(k.rsa, map[string]any{"typ": "application/refresh+jwt"})), "bad_claims", "token type not accepted")

	wantInvalid(t, "crit exp", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{"exp"}})), "malformed", "header not accepted")
	wantInvalid(t, "crit empty", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{}})), "malformed", "header not accepted")
	wantInvalid(t, "crit unknown", get(t, "/", rs(k.rsa, map[string]any{"crit": []string{"x-custom"}, "x-custom": 1})), "malformed", "header not accepted")
	wantInvalid(t, "b64 false with crit", get(t, "/", rs(k.rsa, map[string]any{"b64": false, "crit": []string{"b64"}})), "malformed", "header not accepted")
	wantInvalid(t, "b64 false", get(t, "/", rs(k.rsa, map[string]any{"b64": false})), "malformed", "header not accepted")

	// The attacker signs with their own key and says where to find it.
	attacker := k.rsaOther
	attackerJWK := jwk(t, &attacker.PublicKey, "evil", "RS256")
	jku := newHitCounter(t, jwks(t, attackerJWK))
	x5u := newHitCounter(t, certPEM(t, attacker))

	wantInvalid(t, "embedded jwk", get(t, "/", rs(attacker, map[string]any{"jwk": jwk(t, &attacker.PublicKey, "", "")})),
		"bad_signature", "signature invalid")
	wantInvalidReason(t, "embedded jwk with kid", get(t, "/", rs(attacker, map[string]any{"jwk": attackerJWK, "kid": "evil"})), "bad_signature", "malformed")
	wantInvalidReason(t, "jku", get(t, "/", rs(attacker, map[string]any{"jku": jku.srv.URL + "/jwks.json", "kid": "evil"})), "bad_signature", "malformed")
	wantInvalidReason(t, "x5u", get(t, "/", rs(attacker, map[string]any{"x5u": x5u.srv.URL + "/cert.pem"})), "bad_signature", "malformed")
	wantInvalidReason(t, "x5c", get(t, "/", rs(attacker, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(certDER(t, attacker))}})), "bad_signature", "malformed")
	if n := jku.count(); n != 0 {
		t.Errorf("jku URL was fetched %d times", n)
	}
	if n := x5u.count(); n != 0 {
		t.Errorf("x5u URL was fetched %d times", n)
	}
}

// TestIntegrationMalformedTokens: strict compact serialization only.
func TestIntegrationMalformedTokens(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "from header Authorization", "from query t")))
	valid := hs(t, "alice", nil)
	wantOK(t, "valid", get(t, "/", bearer(valid)), "ok alice")
	parts := strings.Split(valid, ".")
	mal := func(label string, r response) {
		t.Helper()
		wantInvalid(t, label, r, "malformed", "token malformed")
	}

	mal("one part", get(t, "/", bearer("abc")))
	mal("two parts", get(t, "/", bearer(parts[0]+"."+parts[1])))
	mal("four parts", get(t, "/", bearer(valid+"."+parts[2])))
	mal("empty parts", get(t, "/", bearer("..")))
	mal("empty payload", get(t, "/", bearer(parts[0]+".."+parts[2])))
	mal("header not JSON", get(t, "/", bearer(b64u.EncodeToString([]byte("not json"))+"."+parts[1]+"."+parts[2])))
	mal("payload not JSON", get(t, "/", bearer(parts[0]+"."+b64u.EncodeToString([]byte("[1,2"))+"."+parts[2])))
	notObject := signedText(parts[0], b64u.EncodeToString([]byte(`"alice"`)))
	wantInvalidReason(t, "payload not an object", get(t, "/", bearer(notObject)), "malformed", "bad_claims")
	mal("character outside the alphabet", get(t, "/", bearer(parts[0]+"."+parts[1][:5]+"*"+parts[1][6:]+"."+parts[2])))

	// JWE, compact (5 parts)
	iv, tag, key := make([]byte, 12), make([]byte, 16), make([]byte, 256)
	_, _ = rand.Read(iv)
	_, _ = rand.Read(tag)
	_, _ = rand.Read(key)
	for hdr, encKey := range map[string]string{`{"alg":"dir","enc":"A256GCM"}`: "", `{"alg":"RSA-OAEP","enc":"A256GCM"}`: b64u.EncodeToString(key)} {
		jwe := strings.Join([]string{b64u.EncodeToString([]byte(hdr)), encKey, b64u.EncodeToString(iv),
			b64u.EncodeToString([]byte("ciphertext")), b64u.EncodeToString(tag)}, ".")
		mal("JWE "+hdr, get(t, "/", bearer(jwe)))
	}
	// JWS JSON serialization, flattened and general
	flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, parts[1], parts[0], parts[2])
	mal("JSON serialization, flattened", get(t, "/", bearer(flat)))
	mal("JSON serialization, general", get(t, "/", bearer(general)))
	mal("JSON serialization in the query", get(t, "/?t="+url.QueryEscape(flat)))

	// padding: a 32-byte signature is 43 characters, 44 with its '='
	if len(parts[2]) != 43 {
		t.Fatalf("HS256 signature is %d characters", len(parts[2]))
	}
	mal("padded signature", get(t, "/", bearer(valid+"=")))
	mal("padded signature in the query", get(t, "/?t="+url.QueryEscape(valid+"=")))
	if pad := (4 - len(parts[1])%4) % 4; pad > 0 {
		mal("padded payload", get(t, "/", bearer(parts[0]+"."+parts[1]+strings.Repeat("=", pad)+"."+parts[2])))
	}

	// '+' and '/' instead of '-' and '_'
	var alt string
	for i := 0; i < 500 && alt == ""; i++ {
		tok := hs(t, "alice", map[string]any{"jti": fmt.Sprint(i)})
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.ContainsAny(sig, "-_") {
			wantOK(t, "valid token before the alphabet swap", get(t, "/", bearer(tok)), "ok alice")
			swapped := strings.NewReplacer("-", "+", "_", "/").Replace(sig)
			alt = tok[:len(tok)-len(sig)] + swapped
		}
	}
	if alt == "" {
		t.Fatal("no token with '-' or '_' in its signature")
	}
	mal("standard alphabet", get(t, "/", bearer(alt)))
	mal("standard alphabet in the query", get(t, "/?t="+url.QueryEscape(alt)))

	// non-zero trailing bits: the last character of a 43-character part
	// carries 4 bits of data and 2 bits that must be zero
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, parts[2][42])
	if last&3 != 0 {
		t.Fatalf("strict encoder produced trailing bits: %q", parts[2])
	}
	loose := parts[2][:42] + string(alphabet[last|1])
	if got, err := b64u.DecodeString(loose); err != nil || string(got) != mustDecode(t, parts[2]) {
		t.Fatalf("lenient decoding of %q: %v", loose, err)
	}
	if _, err := b64u.Strict().DecodeString(loose); err == nil {
		t.Fatalf("strict decoding of %q succeeded", loose)
	}
	mal("non-zero trailing bits", get(t, "/", bearer(parts[0]+"."+parts[1]+"."+loose)))

	// CR and LF inside a token (Go's decoder would skip them)
	for name, ins := range map[string]string{"LF": "\n", "CR": "\r", "CRLF": "\r\n"} {
		broken := valid[:10] + ins + valid[10:]
		if _, err := b64u.DecodeString(strings.Split(broken, ".")[0]); err != nil {
			t.Fatalf("Go's decoder refused %s: %v", name, err)
		}
		mal(name+" in the header part", get(t, "/?t="+url.QueryEscape(broken)))
		brokenSig := valid[:len(valid)-5] + ins + valid[len(valid)-5:]
		mal(name+" in the signature", get(t, "/?t="+url.QueryEscape(brokenSig)))
	}
	// The same faults in the header or payload text, signed as they are:
	// a lenient decoder would find a valid signature and good claims.
	hdrText := b64u.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	var payText string
	for i := 0; i < 500; i++ {
		payText = b64u.EncodeToString(jsonBytes(t, claims("alice", map[string]any{"jti": fmt.Sprint(i), "q": "~~~???>>>"})))
		if len(payText)%4 != 0 && strings.ContainsAny(payText, "-_") {
			break
		}
	}
	if len(payText)%4 == 0 || !strings.ContainsAny(payText, "-_") {
		t.Fatal("no payload text with room for padding and '-' or '_'")
	}
	wantOK(t, "re-signed sanity", get(t, "/", bearer(signedText(hdrText, payText))), "ok alice")
	payLast := strings.IndexByte(alphabet, payText[len(payText)-1])
	for label, p := range map[string][2]string{
		"padded payload, re-signed":            {hdrText, payText + strings.Repeat("=", 4-len(payText)%4)},
		"standard alphabet payload, re-signed": {hdrText, strings.NewReplacer("-", "+", "_", "/").Replace(payText)},
		"trailing bits in payload, re-signed":  {hdrText, payText[:len(payText)-1] + string(alphabet[payLast|1])},
		"LF in payload, re-signed":             {hdrText, payText[:8] + "\n" + payText[8:]},
		"CRLF in header, re-signed":            {hdrText[:8] + "\r\n" + hdrText[8:], payText},
		"padded header, re-signed":             {hdrText + strings.Repeat("=", (4-len(hdrText)%4)%4), payText},
	} {
		if p[0] == hdrText && p[1] == payText {
			continue // header needs no padding
		}
		mal(label, get(t, "/?t="+url.QueryEscape(signedText(p[0], p[1]))))
	}

	mal("space inside", get(t, "/?t="+url.QueryEscape(valid[:10]+" "+valid[10:])))
	mal("tab inside", get(t, "/?t="+url.QueryEscape(valid[:10]+"\t"+valid[10:])))

	// size: a validly signed token over 16 KiB is refused, one under is not
	big := hs(t, "alice", map[string]any{"pad": strings.Repeat("a", 13000)})
	if len(big) <= 16384 {
		t.Fatalf("big token is only %d bytes", len(big))
	}
	mal("token over 16 KiB", get(t, "/", bearer(big)))
	fits := hs(t, "alice", map[string]any{"pad": strings.Repeat("a", 11500)})
	if len(fits) > 16384 || len(fits) < 15000 {
		t.Fatalf("token under the limit is %d bytes", len(fits))
	}
	wantOK(t, "token just under 16 KiB", get(t, "/", bearer(fits)), "ok alice")

	// exactly at the limit: 16384 bytes pass, 16385 do not
	at := map[int]string{}
	for extra := 0; extra < 3 && (at[16384] == "" || at[16385] == ""); extra++ {
		for n := 12000; n < 12400; n++ {
			tok := signedText(hdrText, b64u.EncodeToString(jsonBytes(t, claims("alice"+strings.Repeat("x", extra), map[string]any{
				"exp": unixIn(time.Hour), "iat": unixIn(0), "pad": strings.Repeat("a", n)}))))
			if (len(tok) == 16384 || len(tok) == 16385) && at[len(tok)] == "" {
				at[len(tok)] = tok
			}
		}
	}
	if at[16384] == "" || at[16385] == "" {
		t.Fatal("could not build tokens of 16384 and 16385 bytes")
	}
	if r := get(t, "/", bearer(at[16384])); r.Status != http.StatusOK {
		t.Errorf("token of exactly 16384 bytes: got %d %q, want 200", r.Status, r.Body)
	}
	mal("token of 16385 bytes", get(t, "/", bearer(at[16385])))
}

// signedText signs header and payload texts as they are (HS256 under
// hmac64), however they are encoded.
func signedText(hdr, payload string) string {
	input := hdr + "." + payload
	return input + "." + b64u.EncodeToString(hmacSigner([]byte(hmac64))(input))
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := b64u.Strict().DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
