package caddyjwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"
)

// cmdRun runs `caddy jwt <args>` in process on a fresh command, with
// stdin, and returns what it wrote.
func cmdRun(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := &cobra.Command{Use: "jwt"}
	configureJWTCommand(c)
	var out, errOut bytes.Buffer
	// Never a nil list: cobra reads os.Args[1:] when SetArgs gets nil,
	// and the in-process Caddy of a test that ran before has rewritten
	// os.Args ("caddy run --config ..."), so `cmdRun(t, "")` would then
	// fail with "unknown flag: --config" depending on test order.
	c.SetArgs(append([]string{}, args...))
	c.SetIn(strings.NewReader(stdin))
	c.SetOut(&out)
	c.SetErr(&errOut)
	err = c.Execute()
	return out.String(), errOut.String(), err
}

// cmdMustRun is cmdRun for a run that must succeed; it returns stdout.
func cmdMustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := cmdRun(t, "", args...)
	if err != nil {
		t.Fatalf("caddy jwt %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// cmdRefused runs a command that must fail with an error holding want.
func cmdRefused(t *testing.T, want string, args ...string) {
	t.Helper()
	out, _, err := cmdRun(t, "", args...)
	if err == nil {
		t.Fatalf("caddy jwt %s succeeded (stdout %q); want an error with %q", strings.Join(args, " "), out, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("caddy jwt %s: error %q; want %q", strings.Join(args, " "), err, want)
	}
}

// cmdSignToken signs a token through the sign subcommand.
func cmdSignToken(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(cmdMustRun(t, append([]string{"sign"}, args...)...))
}

// cmdFlipSignatureBit returns tok with one bit of its signature flipped:
// a token that differs by construction. (Replacing the signature's last
// characters with fixed ones gives the same token back when they were
// already those.)
func cmdFlipSignatureBit(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %q: %v", tok, err)
	}
	sig[0] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// cmdHeader decodes a token's header without verifying it.
func cmdHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCommandKeygen(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel() // RSA keys take a while
			path := filepath.Join(t.TempDir(), "key")
			out, errOut, err := cmdRun(t, "", "keygen", "--alg", alg, "--out", path)
			if err != nil {
				t.Fatalf("keygen: %v", err)
			}
			if out != "" {
				t.Errorf("keygen --out wrote to stdout: %q", out)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v; want 0600", info.Mode().Perm())
			}
			var k *key
			if size, isHMAC := hmacSecretSizes[alg]; isHMAC {
				data, _ := os.ReadFile(path)
				text := strings.TrimSpace(string(data))
				if !strings.HasPrefix(text, "base64:") {
					t.Fatalf("secret %q does not start with base64:", text)
				}
				if k, err = secretKey(text); err != nil {
					t.Fatalf("secretKey: %v", err)
				}
				if n := len(k.signer.([]byte)); n != size {
					t.Errorf("secret has %d bytes; want %d", n, size)
				}
			} else {
				keys, err := loadKeyFile(KeyConfig{File: path})
				if err != nil {
					t.Fatalf("loadKeyFile: %v", err)
				}
				if len(keys) != 1 || keys[0].signer == nil {
					t.Fatalf("want one private key, got %d (signer %v)", len(keys), keys[0].signer != nil)
				}
				k = keys[0]
			}
			if !k.serves(alg) {
				t.Errorf("generated key serves %v, not %s", k.algs, alg)
			}
			if !strings.Contains(errOut, "kid: "+k.kid+"\n") {
				t.Errorf("stderr %q does not name kid %s", errOut, k.kid)
			}
		})
	}
}

func TestCommandKeygenStdoutAndErrors(t *testing.T) {
	out := cmdMustRun(t, "keygen") // ES256 by default
	material, err := parsePEM([]byte(out))
	if err != nil {
		t.Fatalf("keygen stdout is not a PEM key: %v\n%s", err, out)
	}
	if _, ok := material.(*ecdsa.PrivateKey); !ok {
		t.Errorf("default key is %T; want an ES256 key", material)
	}
	if out := cmdMustRun(t, "keygen", "--alg", "eddsa"); !strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("keygen --alg eddsa (lower case): %q", out)
	}

	cmdRefused(t, "known: HS256 HS384 HS512 RS256", "keygen", "--alg", "ES999")
	cmdRefused(t, "known:", "keygen", "--alg", "none")

	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmdRefused(t, "refusing to overwrite", "keygen", "--out", path)
	if data, _ := os.ReadFile(path); string(data) != "keep me" {
		t.Errorf("keygen overwrote an existing file: %q", data)
	}
}

func TestCommandSignVerify(t *testing.T) {
	dir := t.TempDir()
	keys := testKeys()
	p256 := keys["p256"].(*ecdsa.PrivateKey)
	ed := keys["ed25519"].(ed25519.PrivateKey)
	rsaKey := keys["rsa"].(*rsa.PrivateKey)
	for _, tc := range []struct {
		alg    string
		sign   []string // key flags for sign
		verify []string // key flags for verify
	}{
		{"HS256", []string{"--secret", testSecret}, []string{"--secret", testSecret}},
		{"ES256", []string{"--key", writePKCS8(t, dir, "es.pem", p256)}, []string{"--key", writePKIX(t, dir, "es.pub", &p256.PublicKey)}},
		{"EdDSA", []string{"--key", writePKCS8(t, dir, "ed.pem", ed)}, []string{"--key", writePKIX(t, dir, "ed.pub", ed.Public())}},
		{"RS256", []string{"--key", writePKCS8(t, dir, "rs.pem", rsaKey)}, []string{"--key", writePKIX(t, dir, "rs.pub", &rsaKey.PublicKey)}},
		{"PS384", []string{"--key", filepath.Join(dir, "rs.pem"), "--alg", "PS384"}, []string{"--key", filepath.Join(dir, "rs.pub")}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			tok := cmdSignToken(t, append(tc.sign, "--sub", "alice", "--claims", `{"roles":["admin"],"big":12345678901234567890}`)...)
			header := cmdHeader(t, tok)
			if header["alg"] != tc.alg || header["typ"] != "JWT" || header["kid"] == nil || header["kid"] == "" {
				t.Errorf("header %v; want alg %s, typ JWT and a kid", header, tc.alg)
			}

			out := cmdMustRun(t, append(append([]string{"verify"}, tc.verify...), tok)...)
			var claims map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &claims); err != nil {
				t.Fatalf("verify output is not JSON: %v\n%s", err, out)
			}
			for name, want := range map[string]string{"sub": `"alice"`, "roles": `["admin"]`, "big": "12345678901234567890"} {
				if got := string(bytes.Join(bytes.Fields(claims[name]), nil)); got != want {
					t.Errorf("claim %s = %s; want %s", name, got, want)
				}
			}
			for _, name := range []string{"iat", "nbf", "exp", "jti"} {
				if claims[name] == nil {
					t.Errorf("claim %s missing from %s", name, out)
				}
			}

			// The token from stdin, with a Bearer prefix, as copied from a request.
			stdout, _, err := cmdRun(t, "Bearer "+tok+"\n", append(append([]string{"verify"}, tc.verify...), "-")...)
			if err != nil || !strings.Contains(stdout, `"alice"`) {
				t.Errorf("verify - (stdin): %v\n%s", err, stdout)
			}
		})
	}
}

func TestCommandSignOptions(t *testing.T) {
	dir := t.TempDir()
	p256 := testKeys()["p256"].(*ecdsa.PrivateKey)
	priv := writePKCS8(t, dir, "es.pem", p256)
	pub := writePKIX(t, dir, "es.pub", &p256.PublicKey)

	// The claims' own exp, iat, nbf and jti are kept; --kid sets the header.
	tok := cmdSignToken(t, "--key", priv, "--kid", "k1", "--claims", `{"exp":4102444800,"iat":1700000000,"nbf":1700000000,"jti":"mine"}`)
	if kid := cmdHeader(t, tok)["kid"]; kid != "k1" {
		t.Errorf("kid %v; want k1", kid)
	}
	out := cmdMustRun(t, "verify", "--key", pub, tok)
	for _, want := range []string{`"exp": 4102444800`, `"iat": 1700000000`, `"jti": "mine"`} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %s:\n%s", want, out)
		}
	}

	// --ttl 0: no exp, which the guard refuses unless told otherwise.
	tok = cmdSignToken(t, "--key", priv, "--ttl", "0")
	cmdRefused(t, "expiry missing", "verify", "--key", pub, tok)
	if out := cmdMustRun(t, "verify", "--key", pub, "--allow-missing-exp", tok); strings.Contains(out, `"exp"`) {
		t.Errorf("--ttl 0 token has exp:\n%s", out)
	}

	// A ttl in days, as Caddy's durations allow.
	cmdSignToken(t, "--key", priv, "--ttl", "1d")

	cmdRefused(t, "does not fit the key", "sign", "--key", priv, "--alg", "RS256")
	cmdRefused(t, "does not fit the key", "sign", "--secret", testSecret, "--alg", "HS384") // 32 bytes: HS256 only
	cmdRefused(t, "unknown algorithm", "sign", "--key", priv, "--alg", "none")
	cmdRefused(t, "no private key", "sign", "--key", pub)
	cmdRefused(t, "claims: not a JSON object", "sign", "--key", priv, "--claims", `["a"]`)
	cmdRefused(t, "claims: text after", "sign", "--key", priv, "--claims", `{"a":1} {"b":2}`)
	cmdRefused(t, "ttl", "sign", "--key", priv, "--ttl", "soon")
	cmdRefused(t, "none of the others can be", "sign", "--key", priv, "--secret", testSecret)
	cmdRefused(t, "at least one of the flags", "sign")

	// A short secret is refused without being echoed.
	_, errOut, err := cmdRun(t, "", "sign", "--secret", "hunter2-short")
	if err == nil || strings.Contains(err.Error()+errOut, "hunter2") {
		t.Errorf("short secret: error %v, stderr %q (must fail without the secret)", err, errOut)
	}

	// A secret from the environment.
	t.Setenv("CMD_TEST_JWT_SECRET", testSecret)
	tok = cmdSignToken(t, "--secret", "{env.CMD_TEST_JWT_SECRET}", "--sub", "env")
	cmdMustRun(t, "verify", "--secret", testSecret, tok)
}

func TestCommandVerifyRefuses(t *testing.T) {
	dir := t.TempDir()
	keys := testKeys()
	p256 := keys["p256"].(*ecdsa.PrivateKey)
	priv := writePKCS8(t, dir, "es.pem", p256)
	pub := writePKIX(t, dir, "es.pub", &p256.PublicKey)
	rsaKey := keys["rsa"].(*rsa.PrivateKey)
	rsaPub := writePKIX(t, dir, "rs.pub", &rsaKey.PublicKey)
	other, _ := generateKey("ES256")
	otherPub := writePKIX(t, dir, "other.pub", other.Public())

	good := cmdSignToken(t, "--key", priv, "--claims", `{"iss":"https://auth.example.com","aud":["api","web"]}`)
	// Issued two hours ago, expired one hour ago (a token issued after its
	// exp is refused whatever the leeway); valid from 2100.
	issued := fmt.Sprintf(`{"iat":%d,"nbf":%[1]d}`, time.Now().Add(-2*time.Hour).Unix())
	expired := cmdSignToken(t, "--key", priv, "--ttl", "-1h", "--claims", issued)
	future := cmdSignToken(t, "--key", priv, "--ttl", "876000h", "--claims", `{"nbf":4102444800}`)

	cmdMustRun(t, "verify", "--key", pub, "--issuer", "https://auth.example.com", "--audience", "web", good)
	cmdMustRun(t, "verify", "--key", pub, "--issuer", "x", "--issuer", "https://auth.example.com", good)

	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"expired", "token expired", []string{"--key", pub, expired}},
		{"expired beyond leeway", "token expired", []string{"--key", pub, "--leeway", "59m", expired}},
		{"not yet valid", "token not yet valid", []string{"--key", pub, future}},
		{"wrong key", "signature invalid", []string{"--key", otherPub, good}},
		{"key of another type", "algorithm not accepted", []string{"--key", rsaPub, good}},
		{"wrong secret", "algorithm not accepted", []string{"--secret", testSecret, good}},
		{"wrong issuer", "issuer not accepted", []string{"--key", pub, "--issuer", "https://evil.example.com", good}},
		{"wrong audience", "audience not accepted", []string{"--key", pub, "--audience", "admin", good}},
		{"garbage", "token malformed", []string{"--key", pub, "not.a.token"}},
		{"tampered", "signature invalid", []string{"--key", pub, cmdFlipSignatureBit(t, good)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmdRefused(t, tc.want, append([]string{"verify"}, tc.args...)...)
		})
	}
	// The error is the guard's description itself, which cobra prints.
	_, errOut, err := cmdRun(t, "", "verify", "--key", pub, expired)
	if err == nil || err.Error() != "token expired" || !strings.Contains(errOut, "token expired") {
		t.Errorf("expired: error %v, stderr %q", err, errOut)
	}
	// A leeway long enough lets the expired token pass, as in the guard.
	cmdMustRun(t, "verify", "--key", pub, "--leeway", "2h", expired)

	cmdRefused(t, "at least one of the flags", "verify", good)
	cmdRefused(t, "no such file", "verify", "--key", filepath.Join(dir, "missing.pem"), good)
	cmdRefused(t, "leeway", "verify", "--key", pub, "--leeway", "-1s", good)
	cmdRefused(t, "accepts 1 arg", "verify", "--key", pub)
}

func TestCommandVerifyJWKS(t *testing.T) {
	p256 := testKeys()["p256"].(*ecdsa.PrivateKey)
	dir := t.TempDir()
	priv := writePKCS8(t, dir, "es.pem", p256)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p256.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, not 127.0.0.1", srv.URL)
	}

	tok := cmdSignToken(t, "--key", priv, "--kid", "k1", "--sub", "jwks-user")
	if out := cmdMustRun(t, "verify", "--jwks", srv.URL, tok); !strings.Contains(out, `"jwks-user"`) {
		t.Errorf("verify --jwks output:\n%s", out)
	}
	// A kid the set does not have: one refetch, then refused.
	cmdRefused(t, "unknown signing key", "verify", "--jwks", srv.URL, cmdSignToken(t, "--key", priv, "--kid", "k2"))

	// The same set as a local file.
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		t.Fatal(err)
	}
	cmdMustRun(t, "verify", "--jwks", file, tok)

	// A set that cannot be fetched is an error of its own, not a refusal.
	failing := httptest.NewServer(http.NotFoundHandler())
	defer failing.Close()
	cmdRefused(t, "status 404", "verify", "--jwks", failing.URL, tok)
	cmdRefused(t, "http:// is allowed only for loopback", "verify", "--jwks", "http://example.com/jwks.json", tok)
}

func TestCommandInspect(t *testing.T) {
	tok := cmdSignToken(t, "--secret", testSecret, "--sub", "alice", "--claims", `{"n":1.5}`)
	for _, args := range [][]string{{"inspect", tok}, {"inspect", "-"}} {
		out, errOut, err := cmdRun(t, tok+"\n", args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var got struct {
			Header   map[string]any  `json:"header"`
			Claims   map[string]any  `json:"claims"`
			Verified *bool           `json:"verified"`
			Other    json.RawMessage `json:"other"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("inspect output is not JSON: %v\n%s", err, out)
		}
		if got.Header["alg"] != "HS256" || got.Claims["sub"] != "alice" || got.Claims["n"] != 1.5 {
			t.Errorf("inspect: header %v, claims %v", got.Header, got.Claims)
		}
		if got.Verified == nil || *got.Verified || !strings.Contains(out, `"verified": false`) {
			t.Errorf(`inspect output lacks "verified": false:\n%s`, out)
		}
		for _, want := range []string{"UNVERIFIED", "exp: ", "(in ", "nbf: ", "iat: "} {
			if !strings.Contains(errOut, want) {
				t.Errorf("inspect stderr lacks %q:\n%s", want, errOut)
			}
		}
	}

	// An expired token is still shown, with its age.
	expired := cmdSignToken(t, "--secret", testSecret, "--ttl", "-2h")
	if _, errOut, err := cmdRun(t, "", "inspect", expired); err != nil || !strings.Contains(errOut, "ago)") {
		t.Errorf("inspect expired: %v\n%s", err, errOut)
	}

	b64 := base64.RawURLEncoding.EncodeToString
	for _, bad := range []string{
		"garbage",
		"a.b",
		"a.b.c.d",
		"!!.??.sig",
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`not json`)) + ".c2ln",
		b64([]byte(`[1]`)) + "." + b64([]byte(`{}`)) + ".c2ln",
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`{}`)) + ".s+g/",
	} {
		out, _, err := cmdRun(t, "", "inspect", bad)
		if err == nil || !strings.Contains(err.Error(), "not a JWT") {
			t.Errorf("inspect %q: error %v, output %q; want not a JWT", bad, err, out)
		}
	}
	cmdRefused(t, "no token given", "inspect", "-")
}

func TestCommandHelp(t *testing.T) {
	out, _, err := cmdRun(t, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"keygen", "sign", "inspect", "verify"} {
		if !strings.Contains(out, sub) {
			t.Errorf("jwt help does not list %s:\n%s", sub, out)
		}
		help := cmdMustRun(t, sub, "--help")
		if !strings.Contains(help, "Examples:") || !strings.Contains(help, "caddy jwt "+sub) {
			t.Errorf("%s --help lacks examples:\n%s", sub, help)
		}
	}
	cmdRefused(t, `unknown subcommand "frobnicate"`, "frobnicate")
}
