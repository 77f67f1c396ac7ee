package integration

// Regression tests of issue 16, "one token, one identity, one site",
// through a real Caddy: each test names the attack it replays and the
// product code it holds.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// TestIdentityUnicode — attack: two different tokens become one user. A
// lone surrogate escape ("al\ud800ice", "al\udfffice") or invalid UTF-8,
// anywhere in the header or the claims (a value, a nested value, a member
// name), would be repaired into U+FFFD by Go's JSON decoder; it is 401
// malformed instead. A surrogate pair is a valid escape and passes.
// Holds: internal/jws/scan.go (the strict scan's string check: lone
// surrogates and utf8.Valid).
func TestIdentityUnicode(t *testing.T) {
	startCaddy(t, guardConfig(lines("secret "+hmac64)))
	hdr := `{"alg":"HS256","typ":"JWT"}`
	exp := `,"exp":` + regressExp()
	bad := map[string][2]string{
		"sub al\\ud800ice":           {hdr, `{"sub":"al\ud800ice"` + exp + `}`},
		"sub al\\udfffice":           {hdr, `{"sub":"al\udfffice"` + exp + `}`},
		"sub high then not low":      {hdr, `{"sub":"al\ud800\u0041ice"` + exp + `}`},
		"sub low then high":          {hdr, `{"sub":"al\udc00\ud800ice"` + exp + `}`},
		"sub ends on a high":         {hdr, `{"sub":"alice\ud83d"` + exp + `}`},
		"other claim":                {hdr, `{"sub":"alice","name":"x\ud800"` + exp + `}`},
		"nested claim":               {hdr, `{"sub":"alice","o":{"n":["\udfff"]}` + exp + `}`},
		"member name":                {hdr, `{"sub":"alice","a\ud800":1` + exp + `}`},
		"sub invalid UTF-8":          {hdr, "{\"sub\":\"al\xffice\"" + exp + "}"},
		"sub surrogate as UTF-8":     {hdr, "{\"sub\":\"al\xed\xa0\x80ice\"" + exp + "}"},
		"sub overlong UTF-8":         {hdr, "{\"sub\":\"al\xc0\xafice\"" + exp + "}"},
		"sub truncated UTF-8":        {hdr, "{\"sub\":\"alice\xe2\x82\"" + exp + "}"},
		"header member":              {`{"alg":"HS256","typ":"JWT","x":"\ud800"}`, `{"sub":"alice"` + exp + `}`},
		"header typ":                 {`{"alg":"HS256","typ":"J\udfffWT"}`, `{"sub":"alice"` + exp + `}`},
		"header invalid UTF-8":       {"{\"alg\":\"HS256\",\"typ\":\"J\xffWT\"}", `{"sub":"alice"` + exp + `}`},
		"header member name":         {`{"alg":"HS256","\udc00":"x"}`, `{"sub":"alice"` + exp + `}`},
		"claim name invalid UTF-8":   {hdr, "{\"sub\":\"alice\",\"n\xfe\":1" + exp + "}"},
		"array element invalid UTF8": {hdr, "{\"sub\":\"alice\",\"roles\":[\"a\",\"\xff\"]" + exp + "}"},
	}
	for label, tok := range bad {
		regressWant(t, label, get(t, "/", bearer(regressHS(tok[0], tok[1]))), http.StatusUnauthorized, "malformed", "token malformed")
	}
	// Control: the same token shapes with valid text pass, so the refusals
	// above are the strings'.
	wantOK(t, "surrogate pair", get(t, "/", bearer(regressHS(hdr, `{"sub":"al\ud83d\ude00ice"`+exp+`}`))), "ok al😀ice")
	wantOK(t, "escaped BMP letter", get(t, "/", bearer(regressHS(hdr, `{"sub":"\u00e5lice","name":"x\u00e9"`+exp+`}`))), "ok ålice")
	wantOK(t, "UTF-8 letter", get(t, "/", bearer(regressHS(hdr, `{"sub":"ålice"`+exp+`}`))), "ok ålice")
}

// TestIdentityClaimTypes — attack: a non-string sub (123, ["alice"])
// leaves {http.auth.user.id} and the access log empty while claim_header
// sends "alice" upstream. Registered claims have their RFC 7519 types
// whatever the config: sub, iss and jti strings (sub not empty), aud a
// string or an array of strings; anything else is 401 bad_claims, and the
// upstream never sees the request.
// Holds: internal/jws (the registered claims' type check, badType, read
// by checkTimes as ErrClaimType).
func TestIdentityClaimTypes(t *testing.T) {
	up := echoServer(t)
	startCaddy(t, siteConfig("\tjwt_auth {\n"+lines("secret "+hmac64, "claim_header sub X-User")+"\n\t}\n\treverse_proxy "+up.addr+"\n"+errorsBlock))
	hdr := `{"alg":"HS256","typ":"JWT"}`
	exp := `"exp":` + regressExp()
	bad := map[string]string{
		"sub number": `"sub":123`, "sub array": `"sub":["alice"]`, "sub object": `"sub":{}`,
		"sub true": `"sub":true`, "sub null": `"sub":null`, "sub empty": `"sub":""`,
		"sub big number": `"sub":12345678901234567890`,
		"iss number":     `"sub":"alice","iss":1`, "iss array": `"sub":"alice","iss":["https://a.test"]`,
		"iss object": `"sub":"alice","iss":{}`, "iss null": `"sub":"alice","iss":null`, "iss false": `"sub":"alice","iss":false`,
		"jti number": `"sub":"alice","jti":7`, "jti array": `"sub":"alice","jti":["x"]`, "jti object": `"sub":"alice","jti":{"a":1}`,
		"jti null":   `"sub":"alice","jti":null`,
		"aud number": `"sub":"alice","aud":1`, "aud object": `"sub":"alice","aud":{"a":"b"}`, "aud true": `"sub":"alice","aud":true`,
		"aud null": `"sub":"alice","aud":null`, "aud array of numbers": `"sub":"alice","aud":[1]`,
		"aud mixed array": `"sub":"alice","aud":["x",2]`, "aud nested array": `"sub":"alice","aud":[["x"]]`,
	}
	for label, members := range bad {
		regressWant(t, label, get(t, "/", bearer(regressHS(hdr, "{"+members+","+exp+"}"))), http.StatusUnauthorized, "bad_claims", "claim has wrong type")
	}
	if seen := up.seen(); len(seen) != 0 {
		t.Errorf("refused tokens reached the upstream: %q", seen)
	}
	// Control: the right types pass.
	for label, members := range map[string]string{
		"strings":   `"sub":"alice","iss":"https://a.test","jti":"j1"`,
		"aud text":  `"sub":"alice","aud":"x"`,
		"aud array": `"sub":"alice","aud":["x","y"]`,
		"aud empty": `"sub":"alice","aud":[]`,
	} {
		e := decodeEcho(t, label, get(t, "/", bearer(regressHS(hdr, "{"+members+","+exp+"}"))))
		if got := headerValues(e.Headers, "X-User"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("%s: X-User %q, want [alice]", label, got)
		}
	}
}

// TestIdentityAgreement — attack: the log says one user, the application
// another. For every accepted token the upstream (claim_header), a
// respond with {http.auth.user.*} and Caddy's access log (user_id) show
// the same text: unicode and escaped subs, a sub of digits, and numbers
// that float64 would round or reformat (a 20-digit number, 1e21) kept as
// their JSON text.
// Holds: claims.go (claimText/scalarText, the one reading of a claim) and
// the identity's sub as {http.auth.user.id}.
func TestIdentityAgreement(t *testing.T) {
	up := echoServer(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	startCaddy(t, siteConfig(`	log {
		output file `+logFile+`
		format json
	}
	jwt_auth {
`+lines("secret "+hmac64, "claim_header sub X-User", "claim_header big X-Big", "claim_header sci X-Sci")+`
	}
	handle /who {
		respond "{http.auth.user.id}|{http.auth.user.big}|{http.auth.user.sci}" 200
	}
	handle {
		reverse_proxy `+up.addr+`
	}
`+errorsBlock))
	hdr := `{"alg":"HS256","typ":"JWT"}`
	cases := []struct{ subJSON, sub string }{
		{`"alice"`, "alice"},
		{`"ålice"`, "ålice"},
		{`"\u00e5lice"`, "ålice"},
		{`"al\ud83d\ude00ice"`, "al😀ice"},
		{`"12345678901234567890"`, "12345678901234567890"},
		{`"a\"b\\c"`, `a"b\c`},
		{`"user@example.com"`, "user@example.com"},
	}
	for i, c := range cases {
		tok := regressHS(hdr, `{"sub":`+c.subJSON+`,"big":12345678901234567890,"sci":1e21,"exp":`+regressExp()+`}`)
		label := "sub " + c.subJSON
		e := decodeEcho(t, label, get(t, fmt.Sprintf("/up?case=%d", i), bearer(tok)))
		for h, want := range map[string]string{"X-User": c.sub, "X-Big": "12345678901234567890", "X-Sci": "1e21"} {
			if got := headerValues(e.Headers, h); len(got) != 1 || got[0] != want {
				t.Errorf("%s: upstream %s %q, want [%q]", label, h, got, want)
			}
		}
		wantOK(t, label+", placeholders", get(t, fmt.Sprintf("/who?case=%d", i), bearer(tok)), c.sub+"|12345678901234567890|1e21")
		for _, uri := range []string{fmt.Sprintf("/up?case=%d", i), fmt.Sprintf("/who?case=%d", i)} {
			if got := regressLoggedUser(t, logFile, uri); got != c.sub {
				t.Errorf("%s: access log user_id for %s %q, want %q", label, uri, got, c.sub)
			}
		}
	}
}

// regressLoggedUser waits for the access log entry of uri and returns its
// user_id.
func regressLoggedUser(t *testing.T, logFile, uri string) string {
	t.Helper()
	var user string
	eventually(t, 5*time.Second, "access log entry for "+uri, func() bool {
		f, err := os.Open(logFile)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var entry struct {
				UserID  string `json:"user_id"`
				Request struct {
					URI string `json:"uri"`
				} `json:"request"`
			}
			if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Request.URI == uri {
				user = entry.UserID
				return true
			}
		}
		return false
	})
	return user
}

// TestIdentityTwoSites — attack: a token crosses sites. Two sites on one
// Caddy and one storage, each with key auto (so one shared key) and its
// own users: alice's access and refresh tokens from site A are refused on
// site B, and bob's from B on A; each site's own tokens work. A refusal
// on B must also leave A's login alone: with the refresh binding removed,
// B still answers 401 (alice is none of its users) but spends her refresh
// token in the shared storage, which the last checks catch. Holds:
// caddyfile.go (parseCaddyfile: the site's address as the issuer of a
// handler that serves login) and the issuer check it feeds
// (caddyjwt.go h.issuers / the verifier, keysources.go's key binding, the
// refresh verifier's issuer and audience).
func TestIdentityTwoSites(t *testing.T) {
	storage := keyDir(t)
	a, b := regressOrigin("a.test"), regressOrigin("b.test")
	site := func(origin, user, pw string) string {
		return regressSite(origin, "key auto", "login /login", "refresh /refresh", "logout /logout",
			"jwks_endpoint /jwks", "user "+user+" "+bcryptHash(t, pw))
	}
	startCaddy(t, globalOptions(storage)+"\n"+site(a, "alice", issAlicePW)+"\n"+site(b, "bob", issBobPW))

	kidA, kidB := regressJWKS(t, a+"/jwks").Keys[0].KeyID, regressJWKS(t, b+"/jwks").Keys[0].KeyID
	if kidA != kidB {
		t.Fatalf("sites A and B publish kids %s and %s: the test needs one shared key auto key", kidA, kidB)
	}
	alice := issLogin(t, a+"/login", "alice", issAlicePW)
	bob := issLogin(t, b+"/login", "bob", issBobPW)
	if _, c := issParts(t, alice.AccessToken); c["iss"] != a {
		t.Errorf("alice's token iss %v, want %s", c["iss"], a)
	}
	wantOK(t, "alice on A", get(t, a+"/", bearer(alice.AccessToken)), "ok alice")
	wantOK(t, "bob on B", get(t, b+"/", bearer(bob.AccessToken)), "ok bob")
	regressWant(t, "A's access token on B", get(t, b+"/", bearer(alice.AccessToken)), http.StatusUnauthorized, "bad_claims", "issuer not accepted")
	regressWant(t, "B's access token on A", get(t, a+"/", bearer(bob.AccessToken)), http.StatusUnauthorized, "bad_claims", "issuer not accepted")
	regressWant(t, "A's access cookie on B", get(t, b+"/", cookie("access_token", alice.AccessToken)), http.StatusUnauthorized, "bad_claims", "issuer not accepted")
	issWantJSONError(t, "A's refresh token on B", issRefreshJSON(t, b+"/refresh", alice.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantJSONError(t, "B's refresh token on A", issRefreshJSON(t, a+"/refresh", bob.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantJSONError(t, "A's refresh cookie on B", doRequest(t, http.MethodPost, b+"/refresh", cookie("access_token_refresh", alice.RefreshToken)), http.StatusUnauthorized, "invalid_grant")
	// The refusals spent nothing: each site's own refresh still works.
	wantStatus(t, "alice's refresh on A", issRefreshJSON(t, a+"/refresh", alice.RefreshToken), http.StatusOK)
	wantStatus(t, "bob's refresh on B", issRefreshJSON(t, b+"/refresh", bob.RefreshToken), http.StatusOK)
}

// TestIdentityTwoNodes — attack: a token crosses sites of two Caddy
// processes on one storage (a cluster of different sites): alice of site A
// (node A) is refused on site B (node B), her refresh token too, though
// both nodes sign with the one key auto key. Holds: as TestIdentityTwoSites,
// in the built binary.
func TestIdentityTwoNodes(t *testing.T) {
	bin := buildCaddy(t)
	storage := storageDir(t)
	hash := bcryptHash(t, nodePassword)
	a := runNode(t, bin, regressNodeConfig(t, storage, "alice", hash), 9291+portOffset)
	b := runNode(t, bin, regressNodeConfig(t, storage, "bob", hash), 9292+portOffset)
	a.wait(t)
	b.wait(t)
	if ka, kb := a.jwks(t), b.jwks(t); len(ka) != 1 || strings.Join(ka, ",") != strings.Join(kb, ",") {
		t.Fatalf("JWKS kids: A %v, B %v; the test needs one shared key", ka, kb)
	}
	alice := a.login(t)
	a.expect(t, "alice's token on A", alice.AccessToken, 200)
	b.expect(t, "alice's token on B", alice.AccessToken, 401)
	if status, body := b.refresh(t, alice.RefreshToken); status != 401 || !strings.Contains(body, "invalid_grant") {
		t.Errorf("alice's refresh token on B: %d %q, want 401 invalid_grant", status, body)
	}
	if status, body := a.refresh(t, alice.RefreshToken); status != 200 {
		t.Errorf("alice's refresh token on A afterwards: %d %q, want 200", status, body)
	}
}

// TestIdentityPortal — the portal recipe of SPEC's "One sign-in for many
// sites" still signs people in on app sites: an app with key auto on the
// portal's storage and `issuer <portal>`, and an app with `oidc <portal>`,
// accept the portal's tokens; an app naming another issuer does not.
// Holds: the same issuer binding, from the side that must stay open.
func TestIdentityPortal(t *testing.T) {
	storage := keyDir(t)
	portal := regressOrigin("localhost")
	portalSite := regressSite(portal, "key auto", "login /login", "jwks_endpoint /jwks", "user alice "+bcryptHash(t, issAlicePW))
	// The portal first, so that the oidc app finds its discovery document
	// when it loads (Caddy provisions a new config while the old serves).
	startCaddy(t, globalOptions(storage)+"\n"+portalSite)
	startCaddy(t, globalOptions(storage)+"\n"+portalSite+"\n"+
		regressSite(regressOrigin("127.0.0.1"), "key auto", "issuer "+portal)+"\n"+
		regressSite(regressOrigin("app.test"), "oidc "+portal)+"\n"+
		regressSite(regressOrigin("other.test"), "key auto", "issuer https://other.test"))
	alice := issLogin(t, portal+"/login", "alice", issAlicePW)
	wantOK(t, "portal", get(t, portal+"/", bearer(alice.AccessToken)), "ok alice")
	wantOK(t, "app with key auto and issuer", get(t, regressOrigin("127.0.0.1")+"/", bearer(alice.AccessToken)), "ok alice")
	wantOK(t, "app with oidc", get(t, regressOrigin("app.test")+"/", bearer(alice.AccessToken)), "ok alice")
	regressWant(t, "app naming another issuer", get(t, regressOrigin("other.test")+"/", bearer(alice.AccessToken)), http.StatusUnauthorized, "bad_claims", "issuer not accepted")
}

// TestIdentityFixedIssuer — attack: the Host header names the issuer. A
// login or a discovery request with a forged Host (or X-Forwarded-Host,
// Forwarded, even from a trusted proxy) gets the issuer fixed at load:
// `issuer` on a catch-all `http://:PORT` site, the site's address on a
// site that names its host; jwks_uri lies on that issuer's origin. JWKS
// and discovery carry Access-Control-Allow-Origin: *. A site with no host
// that serves login or jwks_endpoint without issuer, and key auto with no
// login and no issuer, are refused at load naming issuer.
// Holds: issuer.go mint (iss = is.name), jwks.go serveDiscovery (issuer
// and jwks_uri from is.name), caddyfile.go siteIssuer, validate.go
// validateIssuer.
func TestIdentityFixedIssuer(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	jwtLines := []string{"key auto", "login /auth/login", "jwks_endpoint /.well-known/jwks.json", "user alice " + hash}
	check := func(label, wantIss string, opts ...reqOpt) {
		t.Helper()
		tok := issLogin(t, "/auth/login", "alice", issAlicePW, opts...)
		for kind, s := range map[string]string{"access": tok.AccessToken, "refresh": tok.RefreshToken} {
			if _, c := issParts(t, s); c["iss"] != wantIss {
				t.Errorf("%s: %s token iss %v, want %s", label, kind, c["iss"], wantIss)
			}
		}
		iss, uri := regressDiscovery(t, label, baseURL, opts...)
		if iss != wantIss || uri != wantIss+"/.well-known/jwks.json" {
			t.Errorf("%s: discovery {issuer %q, jwks_uri %q}, want {%q, %q}", label, iss, uri, wantIss, wantIss+"/.well-known/jwks.json")
		}
		regressJWKS(t, "/.well-known/jwks.json", opts...)
		wantOK(t, label+": the token on the site", get(t, "/", append([]reqOpt{bearer(tok.AccessToken)}, opts...)...), "ok alice")
	}
	forged := map[string][]reqOpt{
		"Host":             {host("evil.example")},
		"X-Forwarded-Host": {header("X-Forwarded-Host", "evil.example"), header("X-Forwarded-Proto", "https")},
		"Forwarded":        {header("Forwarded", "host=evil.example;proto=https")},
	}
	trusted := "\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}"

	// A catch-all site (the example's shape) with issuer: any Host reaches it.
	startCaddy(t, globalOptions(keyDir(t), trusted)+"\n"+regressSite(fmt.Sprintf("http://:%d", httpPort), append(jwtLines, "issuer https://auth.good.test")...))
	for label, opts := range forged {
		check("catch-all with issuer, forged "+label, "https://auth.good.test", opts...)
	}

	// A site naming its host, no issuer: the Host may only vary as far as
	// Caddy still routes it here (case, no port), the proxy headers freely.
	startCaddy(t, globalOptions(keyDir(t), trusted)+"\n"+regressSite(baseURL, jwtLines...))
	forged["Host without port"] = []reqOpt{host("localhost")}
	forged["Host in capitals"] = []reqOpt{host(strings.ToUpper(siteHost))}
	delete(forged, "Host")
	for label, opts := range forged {
		check("host-named site, forged "+label, baseURL, opts...)
	}

	// Fixed at load or not at all.
	dir := keyDir(t)
	ecKey := writeFile(t, dir, "ec.pem", pkcs8PEM(t, keys(t).ec256))
	for label, cfg := range map[string]string{
		"http://:PORT with login":       globalOptions(dir) + regressSite(fmt.Sprintf("http://:%d", httpPort), "key "+ecKey+" k1", "login /auth/login", "user alice "+hash),
		"http://:PORT, key auto, login": globalOptions(dir) + regressSite(fmt.Sprintf("http://:%d", httpPort), "key auto", "login /auth/login", "user alice "+hash),
		":PORT with jwks_endpoint":      globalOptions(dir) + regressSite(fmt.Sprintf(":%d", httpPort), "key "+ecKey+" k1", "jwks_endpoint /jwks"),
		"key auto without login/issuer": globalOptions(dir) + regressSite(baseURL, "key auto"),
	} {
		wantLoadError(t, label, cfg, "caddyfile", "issuer: needed")
	}
}

// TestIdentityRefreshTokenOwnKey — attack: a refresh token passes as an
// access token at another reader (PyJWT ignores typ). Refresh tokens have
// typ refresh+jwt, alg HS256, kid "refresh.<signing kid>" and aud the
// refresh endpoint's URL, and verify against no key of the published
// JWKS with go-jose (every key tried) nor with golang-jwt; the access
// tokens, typ JWT, do verify through the JWKS with both libraries.
// Holds: issuer.go sign (refresh tokens signed with refreshSecret, kid
// refreshKid), issuer.go mint (aud = refreshAudience).
func TestIdentityRefreshTokenOwnKey(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	allAlgs := []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			startCaddy(t, guardConfigIn(keyDir(t), append([]string{"key auto " + alg}, issStdLines("user alice " + hash)[1:]...)))
			tok := issLogin(t, "/auth/login", "alice", issAlicePW)
			ah, ac := issParts(t, tok.AccessToken)
			rh, rc := issParts(t, tok.RefreshToken)
			if ah["typ"] != "JWT" || ah["alg"] != alg {
				t.Errorf("access token header %v, want typ JWT, alg %s", ah, alg)
			}
			if rh["typ"] != "refresh+jwt" || rh["alg"] != "HS256" || rh["kid"] != "refresh."+fmt.Sprint(ah["kid"]) {
				t.Errorf("refresh token header %v, want typ refresh+jwt, alg HS256, kid refresh.%v", rh, ah["kid"])
			}
			if rc["aud"] != baseURL+"/auth/refresh" {
				t.Errorf("refresh token aud %v, want %s", rc["aud"], baseURL+"/auth/refresh")
			}
			if _, has := ac["aud"]; has {
				t.Errorf("access token aud %v, want none (no audience configured)", ac["aud"])
			}
			set := regressJWKS(t, "/.well-known/jwks.json")

			// go-jose: the access token through the set, the refresh token
			// through no key of it.
			acc, err := jose.ParseSigned(tok.AccessToken, allAlgs)
			if err != nil {
				t.Fatalf("go-jose parses the access token: %v", err)
			}
			if payload, err := acc.Verify(set); err != nil || !strings.Contains(string(payload), `"sub":"alice"`) {
				t.Errorf("go-jose verifies the access token through the JWKS: %v (%s)", err, payload)
			}
			ref, err := jose.ParseSigned(tok.RefreshToken, allAlgs)
			if err != nil {
				t.Fatalf("go-jose parses the refresh token: %v", err)
			}
			if _, err := ref.Verify(set); err == nil {
				t.Errorf("go-jose verifies the refresh token through the JWKS")
			}
			for _, k := range set.Keys {
				if _, err := ref.Verify(k.Key); err == nil {
					t.Errorf("go-jose verifies the refresh token with JWKS key %s", k.KeyID)
				}
				if _, err := ref.Verify(&k); err == nil {
					t.Errorf("go-jose verifies the refresh token with JWK %s", k.KeyID)
				}
			}

			// golang-jwt with a JWKS key function (by kid), and with every
			// key whatever the kid.
			byKid := func(tk *jwt.Token) (any, error) {
				kid, _ := tk.Header["kid"].(string)
				if ks := set.Key(kid); len(ks) > 0 {
					return ks[0].Key, nil
				}
				return nil, fmt.Errorf("kid %q not in the JWKS", kid)
			}
			if _, err := jwt.Parse(tok.AccessToken, byKid, jwt.WithIssuer(baseURL), jwt.WithValidMethods([]string{alg})); err != nil {
				t.Errorf("golang-jwt verifies the access token through the JWKS: %v", err)
			}
			if _, err := jwt.Parse(tok.RefreshToken, byKid); err == nil {
				t.Errorf("golang-jwt verifies the refresh token through the JWKS")
			}
			for _, k := range set.Keys {
				if _, err := jwt.Parse(tok.RefreshToken, func(*jwt.Token) (any, error) { return k.Key, nil }); err == nil {
					t.Errorf("golang-jwt verifies the refresh token with JWKS key %s", k.KeyID)
				}
			}
			// The site itself refreshes with it.
			wantStatus(t, "refresh on the site", issRefreshJSON(t, "/auth/refresh", tok.RefreshToken), http.StatusOK)
		})
	}
}
