package caddyjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

func TestSecretLengthDecidesAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		n    int
		algs []string
	}{
		{32, []string{"HS256"}},
		{47, []string{"HS256"}},
		{48, []string{"HS256", "HS384"}},
		{64, []string{"HS256", "HS384", "HS512"}},
	} {
		ring, err := loadTestKeys(strings.Repeat("s", tc.n), nil, nil)
		if err != nil {
			t.Fatalf("%d bytes: %v", tc.n, err)
		}
		if got := slices.DeleteFunc(slices.Clone(allAlgorithms), func(a string) bool { return !ring.set.Accepts(a) }); !slices.Equal(got, tc.algs) {
			t.Errorf("%d bytes: algorithms %v, want %v", tc.n, got, tc.algs)
		}
	}
	_, err := loadTestKeys(strings.Repeat("s", 31), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("31-byte secret: got %v, want an error naming secret", err)
	}
	if strings.Contains(fmt.Sprint(err), strings.Repeat("s", 31)) {
		t.Errorf("the error echoes the secret: %v", err)
	}
}

func TestSecretForms(t *testing.T) {
	raw := []byte("\x00\x01binary secret of exactly 48 bytes, not text!!!")
	if len(raw) != 48 {
		t.Fatalf("fixture is %d bytes", len(raw))
	}
	t.Setenv("CADDYJWT_TEST_SECRET", testSecret)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{testSecret, []byte(testSecret)},
		{"base64:" + base64.StdEncoding.EncodeToString(raw), raw},
		{"base64:" + base64.RawURLEncoding.EncodeToString(raw), raw},
		{"{env.CADDYJWT_TEST_SECRET}", []byte(testSecret)},
		{"{file." + file + "}", []byte(testSecret)},
	} {
		got, err := parseSecret(tc.in)
		if err != nil || string(got) != string(tc.want) {
			t.Errorf("parseSecret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseSecret("base64:not*base64"); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestKeyFileFormats(t *testing.T) {
	keys := testKeys()
	rsaKey := keys["rsa"].(*rsa.PrivateKey)
	p256 := keys["p256"].(*ecdsa.PrivateKey)
	edKey := keys["ed25519"].(ed25519.PrivateKey)
	dir := t.TempDir()
	ecDER, _ := x509.MarshalECPrivateKey(p256)

	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}
	certDER, err := x509.CreateCertificate(rand.Reader, template, template, &p256.PublicKey, p256)
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "j1", Algorithm: "PS256", Use: "sig"}.MarshalJSON()
	jwk1, _ := jose.JSONWebKey{Key: &p256.PublicKey, KeyID: "s1"}.MarshalJSON()
	jwk2, _ := jose.JSONWebKey{Key: edKey.Public(), KeyID: "s2"}.MarshalJSON()
	encKey, _ := jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "e1", Use: "enc"}.MarshalJSON()
	set := fmt.Sprintf(`{"keys":[%s,%s,%s]}`, jwk1, jwk2, encKey)
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name   string
		file   string
		kid    string
		algs   []string
		kids   []string
		signer bool
	}{
		{"PKCS#1 private", writePEM(t, dir, "pkcs1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "", []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil, true},
		{"PKCS#1 public", writePEM(t, dir, "pkcs1pub.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), "r1", []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, []string{"r1"}, false},
		{"PKCS#8 Ed25519", writePKCS8(t, dir, "ed.pem", edKey), "", []string{"EdDSA"}, nil, true},
		{"SEC1 EC", writePEM(t, dir, "sec1.pem", "EC PRIVATE KEY", ecDER), "", []string{"ES256"}, nil, true},
		{"PKIX public", writePKIX(t, dir, "pub.pem", &p256.PublicKey), "", []string{"ES256"}, nil, false},
		{"certificate", writePEM(t, dir, "cert.pem", "CERTIFICATE", certDER), "c1", []string{"ES256"}, []string{"c1"}, false},
		{"JWK with alg", write("one.jwk", string(jwkJSON)), "", []string{"PS256"}, []string{"j1"}, false},
		{"JWK set, enc key left out", write("set.json", set), "", []string{"ES256", "EdDSA"}, []string{"s1", "s2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := loadKeyFile(KeyConfig{File: tc.file, KID: tc.kid})
			if err != nil {
				t.Fatal(err)
			}
			var algs, kids []string
			for _, k := range ks {
				algs = append(algs, k.algs...)
				if !k.anyKid {
					kids = append(kids, k.kid)
				}
				if (k.signer != nil) != tc.signer {
					t.Errorf("signer = %v, want %v", k.signer != nil, tc.signer)
				}
				if k.kid == "" {
					t.Error("a key without kid gets no thumbprint")
				}
			}
			if !slices.Equal(algs, tc.algs) || !slices.Equal(kids, tc.kids) {
				t.Errorf("algs %v kids %v; want %v %v", algs, kids, tc.algs, tc.kids)
			}
		})
	}
}

func TestKeyErrorsNameTheSubdirective(t *testing.T) {
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256 := testKeys()["p256"].(*ecdsa.PrivateKey)
	smallFile := writePEM(t, dir, "small.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	ecFile := writePKIX(t, dir, "ec.pem", &p256.PublicKey)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	badJWK := filepath.Join(dir, "bad.jwk")
	os.WriteFile(badJWK, []byte(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}`), 0o600)
	wrongAlg := filepath.Join(dir, "wrongalg.jwk")
	j, _ := jose.JSONWebKey{Key: &p256.PublicKey, Algorithm: "RS256"}.MarshalJSON()
	os.WriteFile(wrongAlg, j, 0o600)

	for _, tc := range []struct {
		name   string
		secret string
		files  []KeyConfig
		algs   []string
		want   string
	}{
		{"no key", "", nil, nil, "no key configured"},
		{"missing file", "", []KeyConfig{{File: filepath.Join(dir, "nope.pem")}}, nil, "key "},
		{"garbage", "", []KeyConfig{{File: garbage}}, nil, "key " + garbage},
		{"small RSA", "", []KeyConfig{{File: smallFile}}, nil, "at least 2048"},
		{"point off the curve", "", []KeyConfig{{File: badJWK}}, nil, "key " + badJWK},
		{"alg that does not fit", "", []KeyConfig{{File: wrongAlg}}, nil, "does not fit"},
		{"none", testSecret, nil, []string{"none"}, "algorithms: none"},
		{"unknown", testSecret, nil, []string{"HS999"}, "algorithms: unknown"},
		{"no key serves", testSecret, nil, []string{"HS512"}, "algorithms: no key serves HS512"},
		{"key serves none", testSecret, []KeyConfig{{File: ecFile}}, []string{"HS256"}, "algorithms: key " + ecFile},
		{"duplicate kid", "", []KeyConfig{{File: ecFile, KID: "a"}, {File: ecFile, KID: "a"}}, nil, `kid "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTestKeys(tc.secret, tc.files, tc.algs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// loadTestKeys provisions the keys of a handler with a secret, key files
// and algorithms, and returns its key ring.
func loadTestKeys(secret string, files []KeyConfig, algorithms []string) (*keyRing, error) {
	h := &Handler{Secret: secret, Keys: files, Algorithms: algorithms, logger: zap.NewNop()}
	if err := h.provisionKeys(context.Background(), nil); err != nil {
		return nil, err
	}
	return h.keys.ring.Load(), nil
}
