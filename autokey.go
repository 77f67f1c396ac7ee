package caddyjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/caddyserver/certmagic"
)

// autoKeyAlgorithms are the algorithms `key auto` can generate keys for;
// the first is the default.
var autoKeyAlgorithms = []string{"ES256", "EdDSA", "RS256"}

// autoKeyPath is where the generated key for alg is kept in storage.
func autoKeyPath(alg string) string {
	return "caddyjwt/keys/auto-" + strings.ToLower(alg) + ".pem"
}

// loadAutoKey loads the signing key for alg from storage, generating and
// storing it first if there is none. A storage lock makes instances that
// start together agree on one key.
func loadAutoKey(ctx context.Context, storage certmagic.Storage, alg string) (*key, error) {
	name := autoKeyPath(alg)
	lock := "caddyjwt_keys_" + strings.ToLower(alg)
	if err := storage.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking storage: %w", err)
	}
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), lock) }()

	data, err := storage.Load(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		if data, err = generateKeyPEM(alg); err != nil {
			return nil, err
		}
		if err = storage.Store(ctx, name, data); err != nil {
			return nil, fmt.Errorf("storing the generated key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("loading %s from storage: %w", name, err)
	}
	material, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s in storage: %w", name, err)
	}
	k, err := newKey(material, "", alg, "auto "+alg)
	if err != nil {
		return nil, err
	}
	k.anyKid = false // its id is its thumbprint, published in the JWKS
	return k, nil
}

// generateKeyPEM makes a new private key for alg as PKCS#8 PEM.
func generateKeyPEM(alg string) ([]byte, error) {
	var priv any
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("key auto: algorithm %q not one of %s", alg, strings.Join(autoKeyAlgorithms, ", "))
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
