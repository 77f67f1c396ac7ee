package caddyjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// autoKeyAlgorithms are the algorithms `key auto` can generate keys for;
// the first is the default.
var autoKeyAlgorithms = []string{"ES256", "EdDSA", "RS256"}

const keysDir = "caddyjwt/keys"

// autoKeys is a `key auto` key set kept in storage: the current signing
// key and, with rotation, the keys it replaced, which keep verifying while
// tokens they signed may live. Every instance on the storage reads the
// same keys; changes are made under a storage lock, so the cluster agrees.
type autoKeys struct {
	alg     string
	rotate  time.Duration // a new key signs after this; 0: never
	keep    time.Duration // how long a retired key still verifies
	storage certmagic.Storage
	issuers []string // the iss values its keys speak for; nil: any
	set     atomic.Pointer[[]*key]
	changed func() // called when the keys changed
}

func (a *autoKeys) keys() []*key {
	if p := a.set.Load(); p != nil {
		return *p
	}
	return nil
}

// currentPath is the signing key; retiredPrefix starts retired keys.
func (a *autoKeys) currentPath() string {
	return path.Join(keysDir, "auto-"+strings.ToLower(a.alg)+".pem")
}

func (a *autoKeys) retiredPrefix() string {
	return path.Join(keysDir, "auto-"+strings.ToLower(a.alg)+"-retired-")
}

// load reads the keys from storage: it creates the first key, and retires
// the current one when it is older than rotate. Only those two write, so
// only they take the storage lock: reading a stored key that is not due
// needs no write, and an instance on a read-only storage (a verifier on a
// read-only copy, or a storage that went read-only) still starts and
// reloads with it.
func (a *autoKeys) load(ctx context.Context) error {
	current, created, err := a.loadCurrent(ctx)
	switch {
	case err == nil && !a.due(created):
		return a.use(ctx, current)
	case errors.Is(err, fs.ErrNotExist):
		if err := a.loadLocked(ctx); err != nil {
			return fmt.Errorf("no key in storage yet, making one: %w", err)
		}
		return nil
	case err != nil:
		return err
	}
	return a.loadLocked(ctx)
}

// due tells whether a key created then is to be rotated now.
func (a *autoKeys) due(created time.Time) bool {
	return a.rotate > 0 && now().Sub(created) >= a.rotate
}

// loadLocked is load under the storage lock, so that the instances of a
// cluster make one first key and one rotation: it reads the current key
// again, creates it when there is none, and rotates it when due.
func (a *autoKeys) loadLocked(ctx context.Context) error {
	lock := "caddyjwt_keys_" + strings.ToLower(a.alg)
	if err := a.storage.Lock(ctx, lock); err != nil {
		return fmt.Errorf("locking storage: %w", err)
	}
	defer func() { _ = a.storage.Unlock(context.WithoutCancel(ctx), lock) }()

	current, created, err := a.loadCurrent(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		current, err = a.create(ctx)
		created = now()
	}
	if err != nil {
		return err
	}
	if a.due(created) {
		if err := a.retire(ctx, current); err != nil {
			return fmt.Errorf("retiring the key: %w", err)
		}
		if current, err = a.create(ctx); err != nil {
			return err
		}
	}
	return a.use(ctx, current)
}

// use makes current and the retired keys that still verify the key set.
func (a *autoKeys) use(ctx context.Context, current *key) error {
	keys := []*key{current}
	retired, err := a.loadRetired(ctx)
	if err != nil {
		return err
	}
	keys = append(keys, retired...)

	if old := a.keys(); !sameKids(old, keys) {
		a.set.Store(&keys)
		if old != nil && a.changed != nil {
			a.changed()
		}
	}
	return nil
}

// loadCurrent loads the signing key and tells when it was created (a key
// without that header counts from its storage time); fs.ErrNotExist when
// there is none yet.
func (a *autoKeys) loadCurrent(ctx context.Context) (*key, time.Time, error) {
	data, err := a.storage.Load(ctx, a.currentPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, err
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("loading %s: %w", a.currentPath(), err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, time.Time{}, fmt.Errorf("%s in storage is not PEM", a.currentPath())
	}
	created, err := time.Parse(time.RFC3339, block.Headers["Created"])
	if err != nil {
		info, statErr := a.storage.Stat(ctx, a.currentPath())
		created = info.Modified
		if statErr != nil || created.IsZero() {
			created = now()
		}
	}
	k, err := a.parse(data, true)
	return k, created, err
}

// create generates a new signing key and stores it as the current one.
func (a *autoKeys) create(ctx context.Context) (*key, error) {
	priv, err := generateKey(a.alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type: "PRIVATE KEY", Headers: map[string]string{"Created": now().UTC().Format(time.RFC3339)}, Bytes: der,
	})
	if err := a.storage.Store(ctx, a.currentPath(), data); err != nil {
		return nil, fmt.Errorf("storing the generated key: %w", err)
	}
	return a.parse(data, true)
}

// retire keeps the public half of a key that stops signing, with the time
// it stopped, and the secret its refresh tokens are signed with (so that a
// login outlives a rotation; it is as secret as the current key beside
// it).
func (a *autoKeys) retire(ctx context.Context, k *key) error {
	der, err := x509.MarshalPKIXPublicKey(k.public)
	if err != nil {
		return err
	}
	headers := map[string]string{"Retired": now().UTC().Format(time.RFC3339)}
	if k.refreshSecret != nil {
		headers["Refresh-Secret"] = base64.StdEncoding.EncodeToString(k.refreshSecret)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: headers, Bytes: der})
	return a.storage.Store(ctx, a.retiredPrefix()+k.kid+".pem", data)
}

// loadRetired loads the retired keys that still verify, and deletes those
// older than keep.
func (a *autoKeys) loadRetired(ctx context.Context) ([]*key, error) {
	names, err := a.storage.List(ctx, keysDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []*key
	for _, name := range names {
		if !strings.HasPrefix(name, a.retiredPrefix()) {
			continue
		}
		data, err := a.storage.Load(ctx, name)
		if err != nil {
			continue
		}
		block, _ := pem.Decode(data)
		if block == nil {
			continue
		}
		retired, err := time.Parse(time.RFC3339, block.Headers["Retired"])
		if err != nil {
			continue
		}
		if now().Sub(retired) > a.keep {
			_ = a.storage.Delete(ctx, name)
			continue
		}
		if k, err := a.parse(data, false); err == nil {
			if secret, err := base64.StdEncoding.DecodeString(block.Headers["Refresh-Secret"]); err == nil && len(secret) == sha256.Size {
				k.refreshSecret = secret
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// parse makes the key of a stored PEM; only the current key signs.
func (a *autoKeys) parse(data []byte, signs bool) (*key, error) {
	material, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("key in storage: %w", err)
	}
	refreshSecret := refreshSecretOf(material) // retired keys still verify refresh tokens
	if signer, ok := material.(crypto.Signer); ok && !signs {
		material = signer.Public()
	}
	k, err := newKey(material, "", a.alg, "auto "+a.alg)
	if err != nil {
		return nil, err
	}
	k.anyKid = false // its id is its thumbprint, published in the JWKS
	k.issuers = a.issuers
	k.refreshSecret = refreshSecret
	return k, nil
}

// sameKids tells whether two key lists hold the same keys in order.
func sameKids(a, b []*key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kid != b[i].kid {
			return false
		}
	}
	return true
}

// generateKey makes a new private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("cannot generate a key for %q", alg)
}
