package integration

// The issuer's keys and state: the JWKS it publishes, signing keys, the
// users file, a storage shared by two configs, load errors, and a
// restart of the built binary.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIssuerJWKS: key auto keeps its key in the storage, the JWKS lists
// its public half (never an HMAC secret), discovery points to it, and a
// second config load on the same storage keeps the key and the
// revocations.
func TestIssuerJWKS(t *testing.T) {
	storage := t.TempDir()
	hash := bcryptHash(t, issAlicePW)
	const secret = "this-hmac-secret-must-never-be-published-0123456789"
	startCaddy(t, guardConfigIn(storage, issStdLines("user alice "+hash, "secret "+secret)))

	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	h, _ := issParts(t, tok.AccessToken)
	kid, _ := h["kid"].(string)
	if h["alg"] != "ES256" || kid == "" {
		t.Fatalf("with key auto and a secret, token header %v: want ES256 with a kid (the private key signs)", h)
	}

	r := get(t, "/.well-known/jwks.json")
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=300" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS: %s Cache-Control %q Content-Type %q", r, r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"))
	}
	if strings.Contains(r.Body, secret) || strings.Contains(r.Body, `"oct"`) || strings.Contains(r.Body, `"k"`) || strings.Contains(r.Body, `"d"`) {
		t.Errorf("JWKS publishes a secret or private part: %s", r.Body)
	}
	var set struct{ Keys []issJWK }
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: want one key (%v)", r.Body, err)
	}
	jk := set.Keys[0]
	if jk.Kid != kid || jk.Alg != "ES256" || jk.Use != "sig" || jk.Kty != "EC" || jk.Crv != "P-256" {
		t.Errorf("JWKS key %+v: want kid %q, alg ES256, use sig, EC P-256", jk, kid)
	}
	if tp := issThumbprintEC(jk); tp != kid {
		t.Errorf("key auto kid %q, want the RFC 7638 thumbprint %q", kid, tp)
	}
	pub := issPublicKey(t, jk)
	issVerifyWith(t, "access token", tok.AccessToken, pub)
	// A refresh token is useless to every other reader: signed with a
	// key the JWKS never publishes.
	if _, err := jwt.NewParser(jwt.WithoutClaimsValidation()).Parse(tok.RefreshToken, func(*jwt.Token) (any, error) { return pub, nil }); err == nil {
		t.Error("the refresh token verifies with the published key")
	}
	// The key is the one kept in the storage.
	stored := issStorageKey(t, storage, "ES256")
	if sp, ok := stored.Public().(*ecdsa.PublicKey); !ok || !sp.Equal(pub) {
		t.Errorf("caddyjwt/keys/auto-es256.pem holds another key than the JWKS")
	}
	wantStatus(t, "POST JWKS", doRequest(t, http.MethodPost, "/.well-known/jwks.json", typedBody("application/json", "{}")), http.StatusMethodNotAllowed)

	r = get(t, "/.well-known/openid-configuration")
	var disc map[string]any
	if err := json.Unmarshal([]byte(r.Body), &disc); r.Status != 200 || err != nil || len(disc) != 2 ||
		disc["issuer"] != baseURL || disc["jwks_uri"] != baseURL+"/.well-known/jwks.json" {
		t.Errorf("discovery: %s, want {issuer: %s, jwks_uri: %[2]s/.well-known/jwks.json}", r, baseURL)
	}

	// Revoke one login, keep another, then load another config on the same
	// storage.
	kept := issLogin(t, "/auth/login", "alice", issAlicePW)
	wantStatus(t, "logout", doRequest(t, http.MethodPost, "/auth/logout", bearer(tok.AccessToken)), http.StatusNoContent)
	startCaddy(t, guardConfigIn(storage, issStdLines("user alice "+hash, "access_ttl 10m")))
	again := issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, again.AccessToken); h["kid"] != kid {
		t.Errorf("after reload, kid %v, want %q", h["kid"], kid)
	}
	if r := get(t, "/.well-known/jwks.json"); !strings.Contains(r.Body, `"kid":"`+kid+`"`) {
		t.Errorf("after reload, JWKS %s does not list kid %q", r.Body, kid)
	}
	issWantRevoked(t, "after reload, the logged-out token", get(t, "/", bearer(tok.AccessToken)))
	issWantJSONError(t, "after reload, the logged-out login's refresh token", issRefreshJSON(t, "/auth/refresh", tok.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	wantOK(t, "after reload, the other login's token", get(t, "/", bearer(kept.AccessToken)), "ok alice")
	if r := issRefreshJSON(t, "/auth/refresh", kept.RefreshToken); r.Status != http.StatusOK {
		t.Errorf("after reload, the other login's refresh: %s, want 200", r)
	}

	// Only a secret: nothing to publish.
	startCaddy(t, guardConfigIn(t.TempDir(), []string{"secret " + secret, "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	r = get(t, "/jwks")
	if r.Status != http.StatusOK || strings.ReplaceAll(r.Body, " ", "") != `{"keys":[]}` {
		t.Errorf("JWKS with only a secret: %s, want {\"keys\":[]}", r)
	}
	hs := issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, hs.AccessToken); h["alg"] != "HS256" {
		t.Errorf("with only a secret, alg %v, want HS256", h["alg"])
	}
	wantOK(t, "HS256 token", get(t, "/", bearer(hs.AccessToken)), "ok alice")
}

// TestIssuerSigningKeys: key auto EdDSA, and a private key file with its
// kid, sign the issued tokens and are published.
func TestIssuerSigningKeys(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	storage := t.TempDir()
	startCaddy(t, guardConfigIn(storage, []string{"key auto EdDSA", "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	tok := issLogin(t, "/auth/login", "alice", issAlicePW)
	h, _ := issParts(t, tok.AccessToken)
	var set struct{ Keys []issJWK }
	r := get(t, "/jwks")
	if err := json.Unmarshal([]byte(r.Body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s", r)
	}
	if h["alg"] != "EdDSA" || set.Keys[0].Kid != h["kid"] || set.Keys[0].Alg != "EdDSA" || set.Keys[0].Kty != "OKP" || set.Keys[0].Use != "sig" {
		t.Errorf("key auto EdDSA: header %v, JWKS %+v", h, set.Keys[0])
	}
	issVerifyWith(t, "EdDSA token", tok.AccessToken, issPublicKey(t, set.Keys[0]))
	issStorageKey(t, storage, "EdDSA")
	wantOK(t, "EdDSA token", get(t, "/", bearer(tok.AccessToken)), "ok alice")

	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	file := filepath.Join(t.TempDir(), "signing.pem")
	issWrite(t, file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	startCaddy(t, guardConfigIn(t.TempDir(), []string{"key " + file + " k384", "login /auth/login", "jwks_endpoint /jwks", "user alice " + hash}))
	tok = issLogin(t, "/auth/login", "alice", issAlicePW)
	if h, _ := issParts(t, tok.AccessToken); h["alg"] != "ES384" || h["kid"] != "k384" {
		t.Errorf("key file: header %v, want ES384 with kid k384", h)
	}
	issVerifyWith(t, "key file token", tok.AccessToken, &k.PublicKey)
	r = get(t, "/jwks")
	if !strings.Contains(r.Body, `"kid":"k384"`) || !strings.Contains(r.Body, `"alg":"ES384"`) || strings.Contains(r.Body, `"d"`) {
		t.Errorf("JWKS of a key file: %s", r.Body)
	}
}

// TestIssuerUsersFile: JSON and htpasswd users files, config users winning
// over file users, disabled users, reload on change, and a file that
// stops parsing keeping the last good users.
func TestIssuerUsersFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.json")
	hAlice := bcryptHash(t, issAlicePW)
	issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": hAlice, "claims": map[string]any{"role": "admin"}},
		"dave":  map[string]any{"password": bcryptHash(t, "dave-file-pw")},
		"frank": map[string]any{"password": bcryptHash(t, "frank-pw"), "disabled": true},
	})
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("users_file "+file, "user dave "+bcryptHash(t, "dave-config-pw"), "login_limit 1000 1m")))
	status := func(user, pw string) int {
		return issLoginResp(t, "/auth/login", user, pw).Status
	}
	for _, tc := range []struct {
		user, pw string
		want     int
	}{
		{"alice", issAlicePW, 200},
		{"bob", issBobPW, 401},
		{"dave", "dave-config-pw", 200},
		{"dave", "dave-file-pw", 401},
		{"frank", "frank-pw", 401},
	} {
		if got := status(tc.user, tc.pw); got != tc.want {
			t.Errorf("login %s with %s: %d, want %d", tc.user, tc.pw, got, tc.want)
		}
	}

	// A new user appears.
	issJSONFile(t, dir, "users.json", map[string]any{
		"alice": map[string]any{"password": hAlice, "claims": map[string]any{"role": "admin"}},
		"bob":   map[string]any{"password": bcryptHash(t, issBobPW)},
	})
	took := eventually(t, 6*time.Second, "bob, added to the users file, logs in", func() bool { return status("bob", issBobPW) == 200 })
	t.Logf("users file change picked up in %s", took)
	bob := issLogin(t, "/auth/login", "bob", issBobPW)
	if got := status("frank", "frank-pw"); got != 401 {
		t.Errorf("frank, dropped from the file: %d", got)
	}

	// The file disappears: the last good users stay.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // more than one poll
	if got := status("bob", issBobPW); got != 200 {
		t.Errorf("after the file disappeared, bob: %d, want 200 (last good users)", got)
	}

	// The file stops parsing: the last good users stay.
	issWrite(t, file, []byte(`{"alice": {"password": "`))
	time.Sleep(2500 * time.Millisecond) // more than one poll
	for _, u := range [][2]string{{"alice", issAlicePW}, {"bob", issBobPW}, {"dave", "dave-config-pw"}} {
		if got := status(u[0], u[1]); got != 200 {
			t.Errorf("after the file broke, %s: %d, want 200 (last good users)", u[0], got)
		}
	}
	a := issLogin(t, "/auth/login", "alice", issAlicePW)
	if _, c := issParts(t, a.AccessToken); c["role"] != "admin" {
		t.Errorf("after the file broke, alice's claims %v", c)
	}
	// A file with a bad hash does not parse either.
	issWrite(t, file, []byte(`{"alice": {"password": "plaintext"}}`))
	time.Sleep(2500 * time.Millisecond)
	if got := status("alice", issAlicePW); got != 200 {
		t.Errorf("after a file with a bad hash, alice: %d, want 200 (last good users)", got)
	}
	if got := status("alice", "plaintext"); got != 401 {
		t.Errorf("a plaintext password in the users file was accepted: %d", got)
	}

	// htpasswd lines ($2y$ and $2b$ prefixes), comments, blank lines.
	y := "$2y$" + strings.TrimPrefix(bcryptHash(t, "erin-pw"), "$2a$")
	b := "$2b$" + strings.TrimPrefix(bcryptHash(t, "alice-new-pw"), "$2a$")
	issWrite(t, file, []byte("# users\n\nerin:"+y+"\nalice:"+b+"\ncarol:"+issArgon2Hash+"\n"))
	eventually(t, 6*time.Second, "erin, from htpasswd lines, logs in", func() bool { return status("erin", "erin-pw") == 200 })
	for _, tc := range []struct {
		user, pw string
		want     int
	}{
		{"alice", "alice-new-pw", 200},
		{"alice", issAlicePW, 401},
		{"bob", issBobPW, 401},
		{"carol", issArgon2Password, 200},
		{"dave", "dave-config-pw", 200},
	} {
		if got := status(tc.user, tc.pw); got != tc.want {
			t.Errorf("htpasswd file, login %s with %s: %d, want %d", tc.user, tc.pw, got, tc.want)
		}
	}
	// A user removed since can no longer refresh.
	issWantJSONError(t, "refresh of a removed user", issRefreshJSON(t, "/auth/refresh", bob.RefreshToken), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerSharedStorage: two jwt_auth handlers on one storage (as two
// Caddy instances would be) share the key, the refresh families and the
// revocations: a logout on one is refused by the other within 10 s.
func TestIssuerSharedStorage(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	cfg := siteConfigWith(globalOptions(t.TempDir()), `	handle /a/* {
		jwt_auth {
			key auto
			login /a/login
			refresh /a/refresh
			logout /a/logout
			refresh_grace 0s
			user alice `+hash+`
		}
		respond "ok {http.auth.user.id}" 200
	}
	handle_path /b/* {
		# The other instance: the same issuer and refresh endpoint (a
		# refresh token is addressed to it), reached here under /b.
		jwt_auth {
			key auto
			issuer `+baseURL+`
			refresh /a/refresh
			refresh_grace 0s
			user alice `+hash+`
		}
		respond "ok {http.auth.user.id}" 200
	}
`+errorsBlock)
	startCaddy(t, cfg)

	one := issLogin(t, "/a/login", "alice", issAlicePW)
	wantOK(t, "A's token on B", get(t, "/b/x", bearer(one.AccessToken)), "ok alice")

	// A refresh on B spends the token for A too.
	r := issRefreshJSON(t, "/b/a/refresh", one.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("A's refresh token on B: %s, want 200", r)
	}
	two := issDecodeTokens(t, "refresh on B", r)
	issWantJSONError(t, "the spent token on A", issRefreshJSON(t, "/a/refresh", one.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantJSONError(t, "B's newest refresh token after reuse on A", issRefreshJSON(t, "/b/a/refresh", two.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	issWantRevoked(t, "B's newest access token on A", get(t, "/a/x", bearer(two.AccessToken)))

	// A logout on A.
	three := issLogin(t, "/a/login", "alice", issAlicePW)
	wantOK(t, "before logout, on B", get(t, "/b/x", bearer(three.AccessToken)), "ok alice")
	wantStatus(t, "logout on A", doRequest(t, http.MethodPost, "/a/logout", bearer(three.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "after logout, on A", get(t, "/a/x", bearer(three.AccessToken)))
	took := eventually(t, 10*time.Second, "B refuses what A revoked", func() bool {
		a := get(t, "/b/x", bearer(three.AccessToken))
		b := get(t, "/b/x", bearer(two.AccessToken))
		return a.Status == http.StatusUnauthorized && b.Status == http.StatusUnauthorized
	})
	t.Logf("revocations reached the other instance in %s", took)
	issWantRevoked(t, "after logout, on B", get(t, "/b/x", bearer(three.AccessToken)))
	issWantRevoked(t, "after reuse, on B", get(t, "/b/x", bearer(two.AccessToken)))
	issWantJSONError(t, "refresh of the logged-out login on B", issRefreshJSON(t, "/b/a/refresh", three.RefreshToken), http.StatusUnauthorized, "invalid_grant")
}

// TestIssuerLoadErrors: issuer configurations refused at load, naming
// the subdirective.
func TestIssuerLoadErrors(t *testing.T) {
	hash := bcryptHash(t, issAlicePW)
	// Start the in-process Caddy with a good config first.
	startCaddy(t, guardConfigIn(t.TempDir(), issStdLines("user alice "+hash)))

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubFile := filepath.Join(t.TempDir(), "public.pem")
	issWrite(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"login without users", []string{"key auto", "login /auth/login"}, "login: no users"},
		{"refresh without users", []string{"key auto", "refresh /auth/refresh"}, "no users"},
		{"login with only a public key", []string{"key " + pubFile, "login /auth/login", "user alice " + hash}, "no key can sign"},
		{"relative login path", []string{"key auto", "login auth/login", "user alice " + hash}, "login: must be an absolute path"},
		{"relative logout path", []string{"key auto", "logout auth/logout"}, "logout: must be an absolute path"},
		{"relative refresh path", []string{"key auto", "refresh auth/refresh", "user alice " + hash}, "refresh: must be an absolute path"},
		{"refresh with refresh_ttl 0", []string{"key auto", "login /auth/login", "refresh /auth/refresh", "refresh_ttl 0", "user alice " + hash}, "refresh:"},
		{"bad same_site", []string{"key auto", "login /auth/login", "user alice " + hash, "cookie {\n\t\t\tsame_site sideways\n\t\t}"}, "same_site"},
		{"login_limit 0", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 0 1m"}, "login_limit"},
		{"login_limit without window", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 5"}, "login_limit"},
		{"login_limit bad window", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit 5 soon"}, "login_limit"},
		{"login_limit negative", []string{"key auto", "login /auth/login", "user alice " + hash, "login_limit -1 1m"}, "login_limit"},
		{"key auto HS256", []string{"key auto HS256", "login /auth/login", "user alice " + hash}, "key auto"},
		{"key auto ES384", []string{"key auto ES384", "login /auth/login", "user alice " + hash}, "key auto"},
		{"user with a plaintext password", []string{"key auto", "login /auth/login", "user alice secret"}, "user"},
		{"user without hash", []string{"key auto", "login /auth/login", "user alice"}, "user"},
		{"users_file missing", []string{"key auto", "login /auth/login", "users_file /nonexistent/users.json"}, "users_file"},
		{"login_page missing", []string{"key auto", "login /auth/login", "user alice " + hash, "login_page /nonexistent/login.html"}, "login_page"},
		{"bad trusted origin", []string{"key auto", "login /auth/login", "user alice " + hash, "trusted_origins app.example/path"}, "trusted_origins"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			wantLoadError(t, tc.name, guardConfigIn(t.TempDir(), tc.lines), "caddyfile", tc.want)
		})
	}

	// The JSON config path: provisioning checks the paths too.
	t.Run("JSON_relative_login", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"admin":{"listen":%q},"storage":{"module":"file_system","root":%q},
"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%[3]d"],"routes":[{"handle":[
{"handler":"jwt_auth","keys":[{"auto":"ES256"}],"login":"auth/login","users":[{"name":"alice","password":%q}]}]}]}}}}}`, adminAddr, t.TempDir(), httpPort, hash)
		wantLoadError(t, "JSON relative login", cfg, "json", "login: must be an absolute path")
	})
	t.Run("JSON_bad_same_site", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"admin":{"listen":%q},"storage":{"module":"file_system","root":%q},
"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%[3]d"],"routes":[{"handle":[
{"handler":"jwt_auth","keys":[{"auto":"ES256"}],"login":"/login","users":[{"name":"alice","password":%q}],"cookie":{"same_site":"sideways"}}]}]}}}}}`, adminAddr, t.TempDir(), httpPort, hash)
		wantLoadError(t, "JSON bad same_site", cfg, "json", "same_site")
	})
}

// TestIssuerRestart runs the built binary twice on one storage: a token
// logged out before the restart is still refused after it, the other
// login's tokens and refresh still work, and the key is the same.
func TestIssuerRestart(t *testing.T) {
	bin := buildCaddy(t)
	tmp := t.TempDir()
	storage := filepath.Join(tmp, "storage")
	cfgFile := filepath.Join(tmp, "Caddyfile")
	// Ports of its own (9180 and 9543), moved like the others by
	// CADDYJWT_TEST_PORT_OFFSET.
	port := 9180 + portOffset
	base := fmt.Sprintf("http://localhost:%d", port)
	issWrite(t, cfgFile, []byte(`{
	admin off
	http_port `+strconv.Itoa(port)+`
	https_port `+strconv.Itoa(9543+portOffset)+`
	auto_https off
	storage file_system `+storage+`
}

`+base+` {
	jwt_auth {
		key auto
		login /auth/login
		refresh /auth/refresh
		logout /auth/logout
		jwks_endpoint /jwks
		user alice `+bcryptHash(t, issAlicePW)+`
	}
	respond "ok {http.auth.user.id}" 200
	handle_errors {
		respond "{http.auth.jwt_auth.error}" {http.error.status_code}
	}
}
`))
	// Both runs share Caddy's data and config folders, as one machine's
	// restarts do.
	run := func() (stop func()) {
		n := startNode(t, bin, cfgFile, port, nil, "XDG_DATA_HOME="+filepath.Join(tmp, "data"), "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "HOME="+tmp)
		n.wait(t)
		return n.stop
	}
	login := func() issTokens {
		t.Helper()
		r := issLoginResp(t, base+"/auth/login", "alice", issAlicePW)
		if r.Status != http.StatusOK {
			t.Fatalf("login on the built Caddy: %s", r)
		}
		return issDecodeTokens(t, "login", r)
	}
	kidOf := func(tok string) string {
		h, _ := issParts(t, tok)
		s, _ := h["kid"].(string)
		return s
	}
	withToken := func(tok string) response { return get(t, base+"/", bearer(tok)) }

	stop := run()
	out, kept := login(), login()
	kid := kidOf(out.AccessToken)
	wantOK(t, "before restart", withToken(out.AccessToken), "ok alice")
	wantStatus(t, "logout before restart", doRequest(t, http.MethodPost, base+"/auth/logout", bearer(out.AccessToken)), http.StatusNoContent)
	issWantRevoked(t, "before restart, after logout", withToken(out.AccessToken))
	stop()
	if _, err := os.Stat(filepath.Join(storage, "caddyjwt", "keys", "auto-es256.pem")); err != nil {
		t.Errorf("key auto not kept at caddyjwt/keys/auto-es256.pem in the storage: %v", err)
	}

	run()
	issWantRevoked(t, "after restart, the logged-out token", withToken(out.AccessToken))
	issWantJSONError(t, "after restart, the logged-out login's refresh token", issRefreshJSON(t, base+"/auth/refresh", out.RefreshToken), http.StatusUnauthorized, "invalid_grant")
	wantOK(t, "after restart, the other login's token", withToken(kept.AccessToken), "ok alice")
	r := issRefreshJSON(t, base+"/auth/refresh", kept.RefreshToken)
	if r.Status != http.StatusOK {
		t.Errorf("after restart, the other login's refresh: %s, want 200", r)
	}
	if k := kidOf(login().AccessToken); k != kid {
		t.Errorf("after restart, kid %q, want %q", k, kid)
	}
	if r := get(t, base+"/jwks"); !strings.Contains(r.Body, strconv.Quote(kid)) {
		t.Errorf("after restart, JWKS %s does not list %q", r.Body, kid)
	}
}
