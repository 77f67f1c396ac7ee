package caddyjwt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Storage layout, under Caddy's configured storage.
const (
	revokedDir = "caddyjwt/revoked"  // one entry per revoked token (jti) or login (sid)
	familyDir  = "caddyjwt/families" // one entry per login with refresh on
)

// syncInterval is how often each instance reads what the others revoked.
// A logout on one instance is refused by the others within this time plus
// the storage's own delay.
const syncInterval = 3 * time.Second

// storageKey names an id in a storage directory. Ids come from tokens, so
// they are hashed rather than used as file names.
func storageKey(dir, id string) string {
	sum := sha256.Sum256([]byte(id))
	return path.Join(dir, hex.EncodeToString(sum[:16]))
}

// revocation is one stored entry: the id and until when it is refused.
type revocation struct {
	ID    string `json:"id"`
	Until int64  `json:"until"`
}

// revocationList is the set of revoked ids (token jti, login sid), in
// memory for the hot path and in storage for the cluster. The hot path
// reads an immutable map through an atomic pointer: no lock, no storage.
type revocationList struct {
	storage certmagic.Storage
	logger  *zap.Logger
	mu      sync.Mutex // serialises writers of list
	list    atomic.Pointer[map[string]int64]
	known   map[string]bool // storage keys already read, guarded by mu
}

func newRevocationList(storage certmagic.Storage, logger *zap.Logger) *revocationList {
	rl := &revocationList{storage: storage, logger: logger, known: make(map[string]bool)}
	rl.list.Store(&map[string]int64{})
	return rl
}

// revoked tells whether id is refused now.
func (rl *revocationList) revoked(id string) bool {
	until, ok := (*rl.list.Load())[id]
	return ok && now().Unix() < until
}

// isRevoked tells whether a token (its jti) or its login (its sid) was
// revoked. A nil list revokes nothing.
func (rl *revocationList) isRevoked(jti, sid string) bool {
	if rl == nil {
		return false
	}
	return (jti != "" && rl.revoked(jti)) || (sid != "" && rl.revoked(sid))
}

// revoke refuses id until the given time, on this instance at once and on
// the others at their next sync. The entry is stored first: a revocation
// that could not be stored is reported, not half-made.
func (rl *revocationList) revoke(ctx context.Context, id string, until time.Time) error {
	if id == "" {
		return nil
	}
	entry, _ := json.Marshal(revocation{ID: id, Until: until.Unix()})
	key := storageKey(revokedDir, id)
	if err := rl.storage.Store(ctx, key, entry); err != nil {
		return err
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.known[key] = true
	rl.add(map[string]int64{id: until.Unix()})
	return nil
}

// add merges entries into the in-memory list, dropping expired ones.
// Callers hold mu.
func (rl *revocationList) add(entries map[string]int64) {
	t := now().Unix()
	next := make(map[string]int64, len(*rl.list.Load())+len(entries))
	for id, until := range *rl.list.Load() {
		if until > t {
			next[id] = until
		}
	}
	maps.Copy(next, entries)
	rl.list.Store(&next)
}

// sync reads the entries that other instances stored, and deletes those
// that have expired.
func (rl *revocationList) sync(ctx context.Context) error {
	keys, err := rl.storage.List(ctx, revokedDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	fresh := make(map[string]int64)
	t := now().Unix()
	for _, key := range keys {
		if rl.known[key] {
			continue
		}
		data, err := rl.storage.Load(ctx, key)
		if err != nil {
			continue // deleted meanwhile, or being written: next time
		}
		var entry revocation
		if err := json.Unmarshal(data, &entry); err != nil {
			rl.logger.Warn("unreadable revocation entry", zap.String("key", key), zap.Error(err))
			rl.known[key] = true
			continue
		}
		if entry.Until <= t {
			_ = rl.storage.Delete(ctx, key)
			continue
		}
		rl.known[key] = true
		fresh[entry.ID] = entry.Until
	}
	if len(fresh) > 0 || len(keys) < len(rl.known) {
		rl.add(fresh)
	}
	if len(rl.known) > len(keys) { // forget keys deleted from storage
		present := make(map[string]bool, len(keys))
		for _, k := range keys {
			present[k] = true
		}
		maps.DeleteFunc(rl.known, func(k string, _ bool) bool { return !present[k] })
	}
	return nil
}

// syncLogged syncs and logs a failure; the next sync tries again.
func (rl *revocationList) syncLogged(ctx context.Context) {
	if err := rl.sync(ctx); err != nil && ctx.Err() == nil {
		rl.logger.Error("reading revocations from storage", zap.Error(err))
	}
}
