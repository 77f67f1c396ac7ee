package caddyjwt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// keySource is one part of the handler's keys, in config order: fixed
// (the secret, a key file) or changing while Caddy runs (key auto, remote
// key sets).
type keySource interface {
	keys() []*key
}

// keyHolder holds the handler's key sources and the key ring built from
// them, which the hot path loads atomically.
type keyHolder struct {
	sources []keySource
	remotes []*remoteView // the remote sources among them, pooled
	ring    atomic.Pointer[keyRing]
	mu      sync.Mutex // serialises ring rebuilds
}

// fixedKeys never change.
type fixedKeys []*key

func (f fixedKeys) keys() []*key { return f }

// provisionKeys loads every key source and builds the first key ring.
// Errors name the subdirective. Remote sources that cannot be fetched yet
// do not fail the config: they retry in the background.
func (h *Handler) provisionKeys(ctx context.Context, storage certmagic.Storage) error {
	h.keys = new(keyHolder)
	// Local keys and jwks keys speak for the configured issuers only (any
	// iss when none is configured); oidc keys for their own issuer.
	bind := slices.Clone(h.Issuers)
	var local []*key
	if h.Secret != "" {
		k, err := secretKey(h.Secret)
		if err != nil {
			return err
		}
		k.issuers = bind
		h.keys.sources = append(h.keys.sources, fixedKeys{k})
		local = append(local, k)
	}
	accessTTL, refreshTTL := h.ttls()
	for _, kc := range h.Keys {
		if kc.Auto == "" {
			ks, err := loadKeyFile(kc)
			if err != nil {
				return fmt.Errorf("key %s: %w", kc.File, err)
			}
			for _, k := range ks {
				k.issuers = bind
			}
			h.keys.sources = append(h.keys.sources, fixedKeys(ks))
			local = append(local, ks...)
			continue
		}
		auto := &autoKeys{
			alg: kc.Auto, rotate: time.Duration(kc.Rotate), storage: storage,
			keep:    max(accessTTL, refreshTTL) + h.leeway,
			issuers: bind,
			changed: h.rebuildRing,
		}
		if err := auto.load(ctx); err != nil {
			return fmt.Errorf("key auto %s: %w", kc.Auto, err)
		}
		h.keys.sources = append(h.keys.sources, auto)
		local = append(local, auto.keys()...)
	}
	for _, u := range h.JWKS {
		if err := h.addRemoteKeys(u, "", bind); err != nil {
			return err
		}
	}
	for _, iss := range h.OIDC {
		// Tokens must carry the issuer, as configured or as its
		// discovery document spells it, with or without a final slash.
		h.issuers = append(h.issuers, strings.TrimSuffix(iss, "/"), strings.TrimSuffix(iss, "/")+"/")
		if err := h.addRemoteKeys("", iss, nil); err != nil {
			return err
		}
	}
	if len(h.keys.sources) == 0 {
		return errors.New("no key configured: set secret, key, jwks or oidc")
	}
	haveRemote := len(h.JWKS)+len(h.OIDC) > 0
	if err := narrow(local, h.Algorithms, haveRemote); err != nil {
		return err
	}
	if _, err := newKeyRing(local, haveRemote); err != nil { // refuses a kid used twice
		return err
	}
	h.rebuildRing()
	return nil
}

// addRemoteKeys adds a remote key set, shared with every handler of the
// process that names the same source (remotePool), seen through a view of
// this handler's own: bound to issuers (jwks), narrowed to its algorithms,
// rebuilding its ring and counting in its metrics.
func (h *Handler) addRemoteKeys(jwksURL, issuer string, issuers []string) error {
	v := &remoteView{
		algorithms: h.Algorithms, issuers: issuers,
		changed: h.rebuildRing, metrics: h.metrics, logger: h.logger,
	}
	p, poolKey, err := acquireRemoteKeys(jwksURL, issuer, v)
	if err != nil {
		return err
	}
	v.src, v.poolKey, v.ready = p.remoteKeys, poolKey, p.ready
	h.keys.sources = append(h.keys.sources, v)
	h.keys.remotes = append(h.keys.remotes, v)
	return nil
}

// remoteStartWait is how long provisioning waits for the first fetches,
// so that a healthy IdP's keys are there for the first request while a
// slow or unreachable one does not hold up a config load.
const remoteStartWait = 3 * time.Second

// startRemoteKeys has the handler told of new keys from its remote key
// sets (it is subscribed since provisionKeys, for the fetch counts), which
// their pool entries fetch and keep fresh in the background, and waits
// for the first fetches at most remoteStartWait (a source fetched before,
// by another handler or the previous config, is ready at once). A set
// that cannot be fetched is retried in the background, and its tokens are
// refused meanwhile.
func (h *Handler) startRemoteKeys(ctx context.Context) {
	if len(h.keys.remotes) == 0 {
		return
	}
	for _, v := range h.keys.remotes {
		v.live.Store(true)
	}
	h.rebuildRing() // keys fetched before the handler went live
	timeout := time.NewTimer(remoteStartWait)
	defer timeout.Stop()
	for _, v := range h.keys.remotes {
		select {
		case <-v.ready:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// releaseRemoteKeys unsubscribes the handler from its remote key sets and
// lets go of their pool entries.
func (k *keyHolder) releaseRemoteKeys() {
	if k == nil {
		return
	}
	for _, v := range k.remotes {
		v.release() // once, however often Cleanup is called
	}
}

// startAutoKeyRotation checks rotating auto keys in the background, so
// that every instance picks up a new key soon after one rotates it.
func (h *Handler) startAutoKeyRotation(ctx context.Context) {
	for _, src := range h.keys.sources {
		if auto, ok := src.(*autoKeys); ok && auto.rotate > 0 {
			interval := min(max(auto.rotate/4, time.Second), time.Minute)
			go every(ctx, interval, func() {
				if err := auto.load(ctx); err != nil && ctx.Err() == nil {
					h.logger.Error("checking key auto rotation", zap.Error(err))
				}
			})
		}
	}
}

// rebuildRing makes a new key ring from every source, in config order; a
// kid seen before is left out. The hot path picks it up atomically.
func (h *Handler) rebuildRing() {
	h.keys.mu.Lock()
	defer h.keys.mu.Unlock()
	var all []*key
	seen := make(map[string]bool)
	for _, src := range h.keys.sources {
		for _, k := range src.keys() {
			if !k.anyKid {
				if seen[k.kid] {
					continue
				}
				seen[k.kid] = true
			}
			all = append(all, k)
		}
	}
	ring, err := newKeyRing(all, len(h.JWKS)+len(h.OIDC) > 0)
	if err != nil {
		h.logger.Error("building the key ring", zap.Error(err))
		return
	}
	h.keys.ring.Store(ring)
}

// refetchKeys asks the remote sources to look again for an unknown kid,
// and tells whether any found new keys.
func (h *Handler) refetchKeys() bool {
	changed := false
	for _, v := range h.keys.remotes {
		if v.src.refetch(h.background) {
			changed = true
		}
	}
	return changed
}
