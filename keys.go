package caddyjwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/caddyjwt/caddyjwt/internal/jws"
	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
)

// minSecretBytes is the shortest HMAC secret accepted: the output size of
// SHA-256. A secret serves each HS algorithm whose hash size it reaches.
const minSecretBytes = 32

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// key is one verification key, and the signing key when it is private.
type key struct {
	kid    string   // key id; for keys configured without one, their thumbprint
	anyKid bool     // configured without an id: tried for kids no other key claims
	algs   []string // the algorithms this key serves
	public any      // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	signer any      // the private key or HMAC secret, when this key can sign
	origin string   // where the key came from, for messages: "secret" or a file
	remote bool     // fetched from a jwks or oidc source: never published
	// issuers, when set, are the only iss values the key speaks for
	issuers []string
	// refreshSecret, for a local key with its private part, is the HMAC
	// key of the refresh tokens it issues (refreshSecretOf): never
	// published, so no reader of the JWKS can accept a refresh token.
	refreshSecret []byte
}

func (k *key) serves(alg string) bool { return slices.Contains(k.algs, alg) }

// algsFor lists the algorithms a key of this type can serve.
func algsFor(public any) ([]string, error) {
	switch pk := public.(type) {
	case []byte:
		if len(pk) < minSecretBytes {
			return nil, fmt.Errorf("HMAC secret is %d bytes; at least %d are needed", len(pk), minSecretBytes)
		}
		algs := []string{"HS256"}
		if len(pk) >= 48 {
			algs = append(algs, "HS384")
		}
		if len(pk) >= 64 {
			algs = append(algs, "HS512")
		}
		return algs, nil
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; at least %d are needed", pk.N.BitLen(), minRSABits)
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch pk.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("unsupported elliptic curve %s", pk.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", public)
}

// allAlgorithms are the algorithms caddyjwt knows, in a stable order.
var allAlgorithms = jws.Algorithms

// newKey makes a key from a public or private key (or an HMAC secret),
// narrowed to alg when the key names one.
func newKey(material any, kid, alg, origin string) (*key, error) {
	k := &key{kid: kid, anyKid: kid == "", origin: origin}
	switch m := material.(type) {
	case []byte:
		k.public, k.signer = m, m
	case *rsa.PrivateKey:
		k.public, k.signer = &m.PublicKey, m
	case *ecdsa.PrivateKey:
		k.public, k.signer = &m.PublicKey, m
	case ed25519.PrivateKey:
		k.public, k.signer = m.Public(), m
	default:
		k.public = material
	}
	if k.signer != nil {
		k.refreshSecret = refreshSecretOf(k.signer)
	}
	algs, err := algsFor(k.public)
	if err != nil {
		return nil, err
	}
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return nil, fmt.Errorf("alg %q does not fit a key of type %T", alg, k.public)
		}
		algs = []string{alg}
	}
	k.algs = algs
	if k.kid == "" {
		if secret, isHMAC := k.public.([]byte); isHMAC {
			k.kid = secretKid(secret)
		} else {
			k.kid = thumbprint(k.public)
		}
	}
	return k, nil
}

// refreshSecretOf derives the HMAC key that signs refresh tokens from a
// private key or secret: every instance with the same key derives the
// same one, and it tells nothing of the key (HMAC-SHA256 over the key's
// PKCS #8 form, or the secret, with a fixed label).
func refreshSecretOf(private any) []byte {
	material, isSecret := private.([]byte)
	if !isSecret {
		var err error
		if material, err = x509.MarshalPKCS8PrivateKey(private); err != nil {
			return nil
		}
	}
	mac := hmac.New(sha256.New, material)
	mac.Write([]byte("caddyjwt refresh token key"))
	return mac.Sum(nil)
}

// secretKid is the key id of an HMAC secret in the tokens it signs: an
// HMAC of a fixed text, which tells no more about the secret than any
// token it signs.
func secretKid(secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("caddyjwt key id"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12])
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a public key.
func thumbprint(public any) string {
	jwk := jose.JSONWebKey{Key: public}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// parseSecret resolves global placeholders in a configured secret and
// decodes it when it starts with "base64:".
func parseSecret(secret string) ([]byte, error) {
	s := caddy.NewReplacer().ReplaceKnown(secret, "")
	b64, isB64 := strings.CutPrefix(s, "base64:")
	if !isB64 {
		return []byte(s), nil
	}
	b64 = strings.TrimRight(strings.TrimSpace(b64), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(b64); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("the text after base64: is not base64")
}

// loadKeyFile reads a PEM or JWK/JWK-set file. kid, when given, names the
// file's single key.
func loadKeyFile(kc KeyConfig) ([]*key, error) {
	data, err := os.ReadFile(kc.File)
	if err != nil {
		return nil, err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		keys, err := parseJWKFile(trimmed, kc.File)
		if err != nil {
			return nil, err
		}
		if kc.KID != "" {
			if len(keys) != 1 {
				return nil, fmt.Errorf("a kid can only be given for a file with one key; %s has %d", kc.File, len(keys))
			}
			keys[0].kid, keys[0].anyKid = kc.KID, false
		}
		return keys, nil
	}
	material, err := parsePEM(data)
	if err != nil {
		return nil, err
	}
	k, err := newKey(material, kc.KID, "", kc.File)
	if err != nil {
		return nil, err
	}
	return []*key{k}, nil
}

// parsePEM returns the first key or certificate's public key in a PEM file.
func parsePEM(data []byte) (any, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM key or certificate found")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			return cert.PublicKey, nil
		}
		// Other blocks, such as EC PARAMETERS, are skipped.
	}
}

// secretKey makes the key of a configured secret.
func secretKey(secret string) (*key, error) {
	b, err := parseSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	k, err := newKey(b, "", "", "secret")
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return k, nil
}

// narrow restricts every local key to the configured algorithms, which
// must each be known and served by some key (unless remote key sets may
// serve it: they come and go, and are narrowed by each handler's remoteView).
func narrow(keys []*key, algorithms []string, haveRemote bool) error {
	if len(algorithms) == 0 {
		return nil
	}
	for _, alg := range algorithms {
		if strings.EqualFold(alg, "none") {
			return errors.New("algorithms: none is never accepted")
		}
		if !slices.Contains(allAlgorithms, alg) {
			return fmt.Errorf("algorithms: unknown algorithm %q (known: %s)", alg, strings.Join(allAlgorithms, " "))
		}
		if !haveRemote && !slices.ContainsFunc(keys, func(k *key) bool { return k.serves(alg) }) {
			return fmt.Errorf("algorithms: no key serves %s", alg)
		}
	}
	for _, k := range keys {
		k.algs = slices.DeleteFunc(k.algs, func(alg string) bool { return !slices.Contains(algorithms, alg) })
		if len(k.algs) == 0 {
			return fmt.Errorf("algorithms: key %s serves none of %s", k.origin, strings.Join(algorithms, " "))
		}
	}
	return nil
}
