package integration

// Attacks through the JOSE header and the compact form (see the table in
// attack_test.go): embedded keys, kid, header parameters, escaped and
// duplicate names, and the compact form itself.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAttackEmbeddedKeys: the attacker's own key in a jwk header, or a
// jku/x5u URL or x5c chain leading to it, signed with it; the URLs point
// at a server that counts hits and must never be contacted. Against a
// local key without a kid, and against a local key with a kid beside a
// remote set (where an unknown kid makes the guard look again — at the
// configured set, never at jku).
func TestAttackEmbeddedKeys(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	rsaPath := writeFile(t, dir, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey))
	idp := newRemoteIdP(t, remoteECKey(t, "idp1")) // a remote set beside the local keys
	attacker := k.rsaOther
	attackerEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerEd := k.edOther
	octSecret := []byte("attacker-chosen-hmac-secret-0123456789")
	evilSet := jwks(t, jwk(t, &attacker.PublicKey, "evil", "RS256"), jwk(t, &attackerEC.PublicKey, "evil-ec", "ES256"))
	jku := newHitCounter(t, evilSet)
	x5u := newHitCounter(t, certPEM(t, attacker))
	x5cOne := []string{base64.StdEncoding.EncodeToString(certDER(t, attacker))}
	x5cTwo := append(append([]string{}, x5cOne...), base64.StdEncoding.EncodeToString(certDER(t, k.rsa)))

	hdr := func(alg string, fields map[string]any) string {
		m := map[string]any{"alg": alg}
		for f, v := range fields {
			m[f] = v
		}
		return string(jsonBytes(t, m))
	}
	rs := attackRS(t, attacker, crypto.SHA256, false)
	payload := attackClaims(`,"role":"admin"`)
	rows := []attackRow{
		{"jwk: the attacker's RSA key", textToken(hdr("RS256", map[string]any{"jwk": jwk(t, &attacker.PublicKey, "", "")}), payload, rs), "bad_signature", ""},
		{"jwk with the attacker's kid", textToken(hdr("RS256", map[string]any{"jwk": jwk(t, &attacker.PublicKey, "evil", "RS256"), "kid": "evil"}), payload, rs), "bad_signature", ""},
		{"jwk with the victim's kid", textToken(hdr("RS256", map[string]any{"jwk": jwk(t, &attacker.PublicKey, "r1", "RS256"), "kid": "r1"}), payload, rs), "bad_signature", ""},
		{"jwk: the attacker's EC key", textToken(hdr("ES256", map[string]any{"jwk": jwk(t, &attackerEC.PublicKey, "", "")}), payload, attackES(t, attackerEC, crypto.SHA256)), "bad_signature", ""},
		{"jwk: the attacker's Ed25519 key", textToken(hdr("EdDSA", map[string]any{"jwk": jwk(t, attackerEd.Public(), "", "")}), payload, attackEd(attackerEd)), "bad_signature", ""},
		{"jwk: a symmetric key (kty oct)", textToken(hdr("HS256", map[string]any{"jwk": map[string]any{"kty": "oct", "k": b64u.EncodeToString(octSecret)}}), payload, hmacSignerFor("HS256", octSecret)), "bad_signature", ""},
		{"jwk: the victim's public key, signed by the attacker", textToken(hdr("RS256", map[string]any{"jwk": jwk(t, &k.rsa.PublicKey, "", "")}), payload, rs), "bad_signature", ""},
		{"jku without kid", textToken(hdr("RS256", map[string]any{"jku": jku.srv.URL + "/jwks.json"}), payload, rs), "bad_signature", ""},
		{"jku with the attacker's kid", textToken(hdr("RS256", map[string]any{"jku": jku.srv.URL + "/jwks.json", "kid": "evil"}), payload, rs), "bad_signature", ""},
		{"jku with the attacker's EC kid", textToken(hdr("ES256", map[string]any{"jku": jku.srv.URL + "/jwks.json", "kid": "evil-ec"}), payload, attackES(t, attackerEC, crypto.SHA256)), "bad_signature", ""},
		{"jku with the victim's kid", textToken(hdr("RS256", map[string]any{"jku": jku.srv.URL + "/jwks.json", "kid": "r1"}), payload, rs), "bad_signature", ""},
		{"x5u", textToken(hdr("RS256", map[string]any{"x5u": x5u.srv.URL + "/cert.pem"}), payload, rs), "bad_signature", ""},
		{"x5u with a kid", textToken(hdr("RS256", map[string]any{"x5u": x5u.srv.URL + "/cert.pem", "kid": "evil"}), payload, rs), "bad_signature", ""},
		{"x5c: the attacker's self-signed certificate", textToken(hdr("RS256", map[string]any{"x5c": x5cOne}), payload, rs), "bad_signature", ""},
		{"x5c with a kid", textToken(hdr("RS256", map[string]any{"x5c": x5cOne, "kid": "evil"}), payload, rs), "bad_signature", ""},
		{"x5c: a chain ending in the victim's key", textToken(hdr("RS256", map[string]any{"x5c": x5cTwo}), payload, rs), "bad_signature", ""},
		{"jwk, jku, x5u and x5c together", textToken(hdr("RS256", map[string]any{"jwk": jwk(t, &attacker.PublicKey, "", ""), "jku": jku.srv.URL,
			"x5u": x5u.srv.URL, "x5c": x5cOne, "kid": "evil"}), payload, rs), "bad_signature", ""},
	}
	for _, c := range []struct{ name, body, kid string }{
		{"local key without kid", lines("key " + rsaPath), ""},
		{"local key with kid and a remote set", lines("key "+rsaPath+" r1", "jwks "+idp.JWKSURL()), "r1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			startCaddy(t, guardConfig(c.body))
			var h map[string]any
			if c.kid != "" {
				h = map[string]any{"kid": c.kid}
			}
			wantOK(t, "RS256 sanity", get(t, "/", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, claims("alice", nil), h))), "ok alice")
			attackRun(t, rows, nil)
		})
	}
	if n := jku.count(); n != 0 {
		t.Errorf("the jku server was contacted %d times", n)
	}
	if n := x5u.count(); n != 0 {
		t.Errorf("the x5u server was contacted %d times", n)
	}
}

// TestAttackKid: kid values that would hurt a guard reading files,
// querying a database or running a shell — path traversal, a file that
// exists (the configured key file itself), /dev/null, SQL, NUL, a very
// long kid, '|', $(...) — and kids that differ from a configured one by
// case, space, NUL or a path prefix, each signed so that it would pass if
// the kid were read loosely; and kids that are not strings.
func TestAttackKid(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	rsaPath := writeFile(t, dir, "r.pem", rsaPEM)
	ecPath := writeFile(t, dir, "e.pem", pkixPEM(t, &k.ec256.PublicKey))
	marker := filepath.Join(dir, "pwned")
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, rsaPath)
	if err != nil {
		t.Fatal(err)
	}
	startCaddy(t, guardConfig(lines("secret "+hmac64, "key "+rsaPath+" k1", "key "+ecPath+" k2")))

	payload := attackClaims(`,"role":"admin"`)
	hsWith := func(kid string, key []byte) string {
		return textToken(string(jsonBytes(t, map[string]any{"alg": "HS256", "kid": kid})), payload, hmacSignerFor("HS256", key))
	}
	rsWith := func(kid string, key any) string {
		return mint(t, jwt.SigningMethodRS256, key, claims("alice", map[string]any{"role": "admin"}), map[string]any{"kid": kid})
	}
	wantOK(t, "RS256 kid k1 sanity", get(t, "/", bearer(rsWith("k1", k.rsa))), "ok alice")
	wantOK(t, "HS256, unknown kid, the real secret (kid-less keys serve unknown kids)", get(t, "/", bearer(hsWith("zzz", []byte(hmac64)))), "ok alice")

	// A kid naming a file, HS256-signed with that file's bytes: refused
	// unless the guard read the file as a key.
	fileKids := map[string][]byte{
		"/dev/null":                   nil,
		rsaPath:                       rsaPEM,
		rel:                           rsaPEM,
		"file://" + rsaPath:           rsaPEM,
		"../../../../../.." + rsaPath: rsaPEM,
		rsaPath + "\x00.json":         rsaPEM,
	}
	if passwd, err := os.ReadFile("/etc/passwd"); err == nil {
		fileKids["../../../../../../etc/passwd"] = passwd
		fileKids["/etc/passwd"] = passwd
	}
	var rows []attackRow
	for kid, content := range fileKids {
		rows = append(rows, attackRow{"kid naming a file (" + kid + "), HS256 with its bytes", hsWith(kid, content), "bad_signature", "signature invalid"})
	}
	// Injection strings, signed by an attacker's RSA key.
	for _, kid := range []string{
		"' OR '1'='1", "k1' OR '1'='1", "x' UNION SELECT 'k1' --", "k1\"; DROP TABLE keys; --",
		"\x00", "k1\x00evil", strings.Repeat("A", 9000), "|", "k1|cat /etc/passwd",
		"$(touch " + marker + ")", "`touch " + marker + "`", "k1; touch " + marker, "k1\ntouch " + marker,
		"{env.HOME}", "{file." + rsaPath + "}", "*", "%", "..",
	} {
		name := kid
		if len(name) > 40 {
			name = name[:20] + fmt.Sprintf("…(%d bytes)", len(kid))
		}
		rows = append(rows, attackRow{fmt.Sprintf("kid %q, an attacker's RS256", name), rsWith(kid, k.rsaOther), "bad_signature", "unknown signing key"})
	}
	// Near misses of k1, signed by k1's own key: a kid matches exactly or
	// not at all.
	for _, kid := range []string{"K1", "k1 ", " k1", "k1\x00", "\x00k1", "k1\n", "../k1", "./k1", "k1/", "k1/../k1", "%6b1", "k", "k1k1", ""} {
		rows = append(rows, attackRow{fmt.Sprintf("kid %q, signed by k1", kid), rsWith(kid, k.rsa), "bad_signature", "unknown signing key"})
	}
	// A kid that is not a string, with an HS256 signature of the real
	// secret: read as no kid, or as "", the secret would verify it.
	for _, kid := range []string{`1`, `null`, `true`, `{}`, `["k1"]`, `{"kid":"k1"}`} {
		rows = append(rows, attackRow{"kid " + kid + ", HS256 of the real secret",
			textToken(`{"alg":"HS256","kid":`+kid+`}`, payload, hmacSignerFor("HS256", []byte(hmac64))), "malformed", "token malformed"})
	}
	attackRun(t, rows, nil)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a kid ran a shell command: %s exists", marker)
	}
	wantOK(t, "still serving after the kids", get(t, "/", bearer(rsWith("k1", k.rsa))), "ok alice")
}

// TestAttackHeaderParams: crit in any shape and b64 in any value are
// refused, also when their names are spelt with \u escapes; a refresh typ
// spelt with escapes is still a refresh token. Every token is signed by
// the real key, so only the header refuses it.
func TestAttackHeaderParams(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	startCaddy(t, guardConfig(lines("key "+writeFile(t, dir, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey)))))
	rs := attackRS(t, k.rsa, crypto.SHA256, false)
	payload := attackClaims("")
	wantOK(t, "RS256 sanity", get(t, "/", bearer(textToken(`{"alg":"RS256"}`, payload, rs))), "ok alice")
	var rows []attackRow
	for _, extra := range []string{
		`"crit":"exp"`, `"crit":null`, `"crit":0`, `"crit":{}`, `"crit":[]`, `"crit":["b64"]`, `"crit":["x5c"],"x5c":[]`,
		`"crit":["exp"],"exp":1`, `"crit":[""]`, `"b64":true`, `"b64":false`, `"b64":"false"`, `"b64":null`,
		`"b64":false,"crit":["b64"]`, `"\u0063rit":["exp"]`, `"cr\u0069t":[]`, `"\u0062\u0036\u0034":false`, `"b\u00364":true`,
	} {
		rows = append(rows, attackRow{"header " + extra, textToken(`{"alg":"RS256",`+extra+`}`, payload, rs), "malformed", "header not accepted"})
	}
	for _, extra := range []string{`"typ":"refresh\u002bjwt"`, `"\u0074yp":"refresh+jwt"`, `"typ":"REFRESH+JWT"`, `"typ":"application/refresh+jwt"`} {
		rows = append(rows, attackRow{"header " + extra, textToken(`{"alg":"RS256",`+extra+`}`, payload, rs), "bad_claims", "token type not accepted"})
	}
	attackRun(t, rows, nil)
}

// TestAttackEscapedNames: registered claims spelt with \u escapes are the
// same claims to the guard as to any JSON reader: an expired exp, a future
// nbf or a foreign iss is not missed because its name was escaped.
func TestAttackEscapedNames(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "allow_missing_exp", "issuer https://a.example", "audience api")))
	now := time.Now().Unix()
	tok := func(members string) string {
		return attackHS(`{"alg":"HS256"}`, `{"sub":"alice","iss":"https://a.example","aud":"api"`+members+`}`)
	}
	wantOK(t, "sanity", get(t, "/", bearer(tok(fmt.Sprintf(`,"exp":%d`, now+600)))), "ok alice")
	attackRun(t, []attackRow{
		{`"\u0065xp" in the past`, tok(fmt.Sprintf(`,"\u0065xp":%d`, now-3600)), "expired", "token expired"},
		{`"e\u0078p" in the past`, tok(fmt.Sprintf(`,"e\u0078p":%d`, now-3600)), "expired", "token expired"},
		{`"\u006ebf" in the future`, tok(fmt.Sprintf(`,"\u006ebf":%d`, now+3600)), "not_yet_valid", "token not yet valid"},
		{`"\u0069at" in the future`, tok(fmt.Sprintf(`,"\u0069at":%d`, now+3600)), "not_yet_valid", "token not yet valid"},
		{`"\u0065xp" a string`, tok(`,"\u0065xp":"never"`), "bad_claims", "claim has wrong type"},
	}, nil)
	attackRun(t, []attackRow{
		{`"\u0069ss" foreign`, attackHS(`{"alg":"HS256"}`, `{"sub":"alice","\u0069ss":"https://evil.example","aud":"api"}`), "bad_claims", "issuer not accepted"},
		{`"\u0061ud" foreign`, attackHS(`{"alg":"HS256"}`, `{"sub":"alice","iss":"https://a.example","\u0061ud":"other"}`), "bad_claims", "audience not accepted"},
	}, nil)
}

// TestAttackDuplicateMembers: a header or claims object naming a member
// twice (also once plainly and once with escapes) is refused, whichever
// copy a reader would keep. Every token is signed with the real secret.
func TestAttackDuplicateMembers(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "issuer https://a.example", "audience api", "require role user")))
	now := time.Now().Unix()
	exp, past, future := now+600, now-3600, now+3600
	good := `"iss":"https://a.example","aud":"api","role":"user"`
	payload := func(members string) string { return "{" + members + "}" }
	base := fmt.Sprintf(`"sub":"alice","exp":%d,`, exp) + good
	wantOK(t, "sanity", get(t, "/", bearer(attackHS(`{"alg":"HS256"}`, payload(base)))), "ok alice")

	var rows []attackRow
	for name, members := range map[string]string{
		"two sub":                      `"sub":"alice","sub":"admin",` + fmt.Sprintf(`"exp":%d,`, exp) + good,
		"two exp, the expired first":   fmt.Sprintf(`"sub":"alice","exp":%d,"exp":%d,`, past, exp) + good,
		"two exp, the expired last":    fmt.Sprintf(`"sub":"alice","exp":%d,"exp":%d,`, exp, past) + good,
		"exp, then an escaped exp":     fmt.Sprintf(`"sub":"alice","exp":%d,"\u0065xp":%d,`, past, exp) + good,
		"escaped exp, then exp":        fmt.Sprintf(`"sub":"alice","\u0065xp":%d,"exp":%d,`, past, exp) + good,
		"two nbf":                      fmt.Sprintf(`"sub":"alice","exp":%d,"nbf":%d,"nbf":%d,`, exp, future, past) + good,
		"two iat":                      fmt.Sprintf(`"sub":"alice","exp":%d,"iat":%d,"iat":%d,`, exp, future, past) + good,
		"two iss":                      fmt.Sprintf(`"sub":"alice","exp":%d,"iss":"https://evil.example",`, exp) + good,
		"two aud":                      fmt.Sprintf(`"sub":"alice","exp":%d,"aud":"other",`, exp) + good,
		"two role":                     fmt.Sprintf(`"sub":"alice","exp":%d,"role":"guest",`, exp) + good,
		"role, escaped in full, twice": fmt.Sprintf(`"sub":"alice","exp":%d,"\u0072\u006f\u006c\u0065":"guest",`, exp) + good,
		"two jti":                      `"jti":"a","jti":"b",` + base,
		"a/b and a\\/b":                `"a/b":1,"a\/b":2,` + base,
		"nested: two roles":            `"realm_access":{"roles":["user"],"roles":["admin"]},` + base,
		"nested: roles, escaped roles": `"realm_access":{"roles":["user"],"\u0072oles":["admin"]},` + base,
		"nested in an array":           `"orgs":[{"id":1,"id":2}],` + base,
		"nested two deep":              `"a":{"b":{"c":1,"c":2}},` + base,
	} {
		rows = append(rows, attackRow{"claims: " + name, attackHS(`{"alg":"HS256"}`, payload(members)), "malformed", "token malformed"})
	}
	for name, hdr := range map[string]string{
		"alg HS256 then none":       `{"alg":"HS256","alg":"none"}`,
		"alg none then HS256":       `{"alg":"none","alg":"HS256"}`,
		"alg HS256 twice":           `{"alg":"HS256","alg":"HS256"}`,
		"alg, then an escaped alg":  `{"alg":"RS256","\u0061lg":"HS256"}`,
		"two kid":                   `{"alg":"HS256","kid":"a","kid":"b"}`,
		"typ refresh+jwt then JWT":  `{"alg":"HS256","typ":"refresh+jwt","typ":"JWT"}`,
		"typ JWT then refresh":      `{"alg":"HS256","typ":"JWT","typ":"refresh+jwt"}`,
		"crit, then an escaped one": `{"alg":"HS256","crit":[],"\u0063rit":[]}`,
	} {
		rows = append(rows, attackRow{"header: " + name, attackHS(hdr, payload(base)), "malformed", "token malformed"})
	}
	attackRun(t, rows, nil)
}

// TestAttackCompactForm: signature stripping, parts transplanted between
// tokens signed by the same key, extra parts and dots, the JSON
// serializations in the sources the existing suite leaves out, and
// whitespace around and inside the token in the request header.
func TestAttackCompactForm(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64, "from header Authorization", "from cookie access_token", "from query t", "from header X-Token")))
	a := attackHS(`{"alg":"HS256","typ":"JWT"}`, attackClaims(`,"role":"guest"`))
	b := attackHS(`{"alg":"HS256","typ":"JWT"}`, attackClaims(`,"role":"admin","jti":"b"`))
	c := textToken(`{"alg":"HS384"}`, attackClaims(`,"role":"admin"`), hmacSignerFor("HS384", []byte(hmac64)))
	wantOK(t, "a", get(t, "/", bearer(a)), "ok alice")
	wantOK(t, "b", get(t, "/", bearer(b)), "ok alice")
	wantOK(t, "c", get(t, "/", bearer(c)), "ok alice")
	pa, pb, pc := strings.Split(a, "."), strings.Split(b, "."), strings.Split(c, ".")
	mal := func(name, tok string) attackRow { return attackRow{name, tok, "malformed", "token malformed"} }
	bad := func(name, tok string) attackRow { return attackRow{name, tok, "bad_signature", "signature invalid"} }
	flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, pa[0], pa[1], pa[2])
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, pa[1], pa[0], pa[2])
	attackRun(t, []attackRow{
		mal("signature stripped, trailing dot kept", pa[0]+"."+pa[1]+"."),
		mal("signature stripped, two parts", pa[0]+"."+pa[1]),
		mal("header stripped", "."+pa[1]+"."+pa[2]),
		mal("payload stripped", pa[0]+".."+pa[2]),
		mal("a trailing dot", a+"."),
		mal("a leading dot", "."+a),
		mal("two dots between parts", pa[0]+".."+pa[1]+"."+pa[2]),
		mal("five parts: a valid JWS and two more", a+".x.y"),
		mal("two tokens joined by a dot", a+"."+b),
		mal("two tokens joined by a comma", a+","+b),
		bad("b's signature on a's header and payload", pa[0]+"."+pa[1]+"."+pb[2]),
		bad("a's signature on b's payload", pa[0]+"."+pb[1]+"."+pa[2]),
		bad("an HS384 header on a's payload and signature", pc[0]+"."+pa[1]+"."+pa[2]),
		bad("a's header on c's payload and signature", pa[0]+"."+pc[1]+"."+pc[2]),
		{"header and payload swapped", pa[1] + "." + pa[0] + "." + pa[2], "bad_signature", "algorithm not accepted"},
	}, nil)
	attackRun(t, []attackRow{
		mal("JSON serialization, flattened, base64url-encoded whole", base64.RawURLEncoding.EncodeToString([]byte(flat))),
		mal("one dot replaced by U+FF0E", pa[0]+"．"+pa[1]+"."+pa[2]),
		mal("one dot replaced by U+2024", pa[0]+"\u2024"+pa[1]+"."+pa[2]),
	}, attackQuery)
	attackRun(t, []attackRow{
		mal("JSON serialization, flattened, in the query", flat),
		mal("JSON serialization, general, in the query", general),
	}, attackQuery)
	attackRun(t, []attackRow{
		mal("JSON serialization, flattened, in X-Token", flat),
		mal("JSON serialization, general, in X-Token", general),
	}, func(tok string) reqOpt { return header("X-Token", tok) })

	// Whitespace around the token is HTTP's (optional white space, and
	// RFC 6750's 1*SP after Bearer): the same token passes. Whitespace
	// inside is refused.
	raw := func(value string) response {
		return rawRequest(t, "GET / HTTP/1.1\r\nHost: "+siteHost+"\r\nAuthorization: "+value+"\r\nConnection: close\r\n\r\n")
	}
	wantOK(t, "two spaces after Bearer", raw("Bearer  "+a), "ok alice")
	wantOK(t, "spaces and a tab after the token", raw("Bearer "+a+" \t "), "ok alice")
	wantOK(t, "spaces before the scheme", raw("   Bearer "+a), "ok alice")
	wantInvalid(t, "a space inside the token", raw("Bearer "+a[:20]+" "+a[20:]), "malformed", "token malformed")
	wantInvalid(t, "a tab inside the token", raw("Bearer "+a[:20]+"\t"+a[20:]), "malformed", "token malformed")
	wantInvalid(t, "a space after a dot", raw("Bearer "+pa[0]+". "+pa[1]+"."+pa[2]), "malformed", "token malformed")
	wantInvalid(t, "two tokens after Bearer", raw("Bearer "+a+" "+b), "malformed", "token malformed")
	wantMissing(t, "a tab between Bearer and the token (no Bearer token)", raw("Bearer\t"+a))
	if r := raw("Bearer " + a + "\x0b"); r.Status != http.StatusBadRequest {
		t.Errorf("a vertical tab after the token: got %d %q, want Go's 400", r.Status, r.Body)
	}
}
