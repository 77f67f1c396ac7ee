package caddyjwt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Storage layout, under Caddy's configured storage.
const (
	// revokedDir holds one folder per minute in which revocations were
	// written (its Unix minute), and in it one empty entry per revoked
	// token (jti) or login (sid), named <id hash>.<until>: a listing tells
	// everything, so a sync reads no entry.
	revokedDir = "caddyjwt/revoked"
	familyDir  = "caddyjwt/families" // one entry per login with refresh on
)

// syncInterval is how often each instance reads what the others revoked.
// A logout on one instance is refused by the others within this time plus
// the storage's own delay.
const syncInterval = 3 * time.Second

// recentMinutes is how far back a sync lists minute folders again for
// entries written since it last looked: the minute being written, and the
// one before, for writers whose clocks lag a little.
const recentMinutes = 1

// storageKey names an id in a storage directory. Ids come from tokens, so
// they are hashed rather than used as file names.
func storageKey(dir, id string) string {
	sum := sha256.Sum256([]byte(id))
	return path.Join(dir, hex.EncodeToString(sum[:16]))
}

// revocationKey is a revoked id as the list keeps it: the first 128 bits
// of its SHA-256, so that an entry costs the same whatever the id's length
// and a storage entry's name is its key.
type revocationKey [16]byte

func revocationKeyOf(id string) revocationKey {
	sum := sha256.Sum256([]byte(id))
	return revocationKey(sum[:16])
}

// revocationShards spreads the list over locks, so that a logout never
// holds up more than a sliver of the requests being checked.
const revocationShards = 64

// revocationList is the set of revoked ids (token jti, login sid), in
// memory for the hot path and in storage for the cluster. A check is one
// read-locked map lookup; a revocation one map write and one storage
// write, whatever the list's size. A sync lists the minute folders and
// only the folders that are new or recent, never the whole list.
type revocationList struct {
	storage certmagic.Storage
	logger  *zap.Logger
	shards  [revocationShards]revocationShard

	mu        sync.Mutex              // serialises syncs; guards what follows
	minutes   map[int64]*minuteFolder // the minute folders seen in storage
	lastSweep time.Time
}

type revocationShard struct {
	mu sync.RWMutex
	m  map[revocationKey]int64 // until, in Unix seconds
}

// minuteFolder is what a sync knows of one minute folder.
type minuteFolder struct {
	entries int   // how many entries it held when last listed
	latest  int64 // the latest until among them
}

func newRevocationList(storage certmagic.Storage, logger *zap.Logger) *revocationList {
	rl := &revocationList{storage: storage, logger: logger, minutes: make(map[int64]*minuteFolder)}
	for i := range rl.shards {
		rl.shards[i].m = make(map[revocationKey]int64)
	}
	return rl
}

// refuses tells whether a key is revoked now. A nil list revokes nothing.
func (rl *revocationList) refuses(k revocationKey) bool {
	if rl == nil {
		return false
	}
	s := &rl.shards[k[0]%revocationShards]
	s.mu.RLock()
	until, ok := s.m[k]
	s.mu.RUnlock()
	return ok && now().Unix() < until
}

// refusesIdentity tells whether a token's jti or its login's sid is
// revoked.
func (rl *revocationList) refusesIdentity(id *identity) bool {
	return id.jti != "" && rl.refuses(id.jtiKey) || id.sid != "" && rl.refuses(id.sidKey)
}

// revoked tells whether id is refused now.
func (rl *revocationList) revoked(id string) bool {
	return id != "" && rl.refuses(revocationKeyOf(id))
}

// add keeps a key until the given time (the later, if it is there).
func (rl *revocationList) add(k revocationKey, until int64) {
	s := &rl.shards[k[0]%revocationShards]
	s.mu.Lock()
	if until > s.m[k] {
		s.m[k] = until
	}
	s.mu.Unlock()
}

// revoke refuses id until the given time, on this instance at once and on
// the others at their next sync. The entry is stored first: a revocation
// that could not be stored is reported, not half-made.
func (rl *revocationList) revoke(ctx context.Context, id string, until time.Time) error {
	if id == "" {
		return nil
	}
	k := revocationKeyOf(id)
	minute := now().Unix() / 60
	name := path.Join(revokedDir, strconv.FormatInt(minute, 10), hex.EncodeToString(k[:])+"."+strconv.FormatInt(until.Unix(), 10))
	if err := rl.storage.Store(ctx, name, nil); err != nil {
		return err
	}
	rl.add(k, until.Unix())
	return nil
}

// sync reads the entries written since the last sync (by any instance),
// deletes the minute folders whose entries have all expired, and drops
// expired entries from memory once a minute.
func (rl *revocationList) sync(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	folders, err := rl.listMinuteFolders(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t := now()
	current := t.Unix() / 60
	present := make(map[int64]bool, len(folders))
	for _, folder := range folders {
		minute, err := strconv.ParseInt(path.Base(folder), 10, 64)
		if err != nil {
			continue
		}
		present[minute] = true
		recent := minute >= current-recentMinutes
		if rl.minutes[minute] == nil || recent {
			if err := rl.readFolder(ctx, folder, minute); err != nil {
				return err
			}
		}
		if known := rl.minutes[minute]; known != nil && known.latest <= t.Unix() && !recent {
			rl.deleteFolder(ctx, folder) // every token it refused has expired
			delete(rl.minutes, minute)
		}
	}
	for minute := range rl.minutes {
		if !present[minute] {
			delete(rl.minutes, minute) // deleted by another instance
		}
	}
	if t.Sub(rl.lastSweep) >= time.Minute {
		rl.sweep(t.Unix())
		rl.lastSweep = t
	}
	return nil
}

// listMinuteFolders lists the minute folders. certmagic's FileStorage
// (Caddy's file_system) lists through filepath.Walk, which reads every
// subfolder before it skips it: a listing of the minute folders would read
// every revocation's name (measured: 3 % of a core at 100,000 with one
// sync every 3 s). There the folder is read directly, O(folders).
func (rl *revocationList) listMinuteFolders(ctx context.Context) ([]string, error) {
	fileStorage, ok := rl.storage.(*certmagic.FileStorage)
	if !ok {
		return rl.storage.List(ctx, revokedDir, false)
	}
	entries, err := os.ReadDir(fileStorage.Filename(revokedDir))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", revokedDir, err)
	}
	folders := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, path.Join(revokedDir, e.Name()))
		}
	}
	return folders, nil
}

// readFolder reads a minute folder's entries, unless it holds as many as
// when it was read last (entries are never deleted one by one).
func (rl *revocationList) readFolder(ctx context.Context, folder string, minute int64) error {
	entries, err := rl.storage.List(ctx, folder, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	known := rl.minutes[minute]
	if known != nil && known.entries == len(entries) {
		return nil
	}
	f := &minuteFolder{entries: len(entries)}
	t := now().Unix()
	for _, entry := range entries {
		k, until, ok := parseRevocationEntry(path.Base(entry))
		if !ok {
			continue
		}
		f.latest = max(f.latest, until)
		if until > t {
			rl.add(k, until)
		}
	}
	rl.minutes[minute] = f
	return nil
}

// parseRevocationEntry reads an entry's name: <hex key>.<until>.
func parseRevocationEntry(name string) (k revocationKey, until int64, ok bool) {
	hexKey, untilText, found := strings.Cut(name, ".")
	until, err := strconv.ParseInt(untilText, 10, 64)
	if !found || err != nil || hex.DecodedLen(len(hexKey)) != len(k) {
		return k, 0, false
	}
	if _, err := hex.Decode(k[:], []byte(hexKey)); err != nil {
		return k, 0, false
	}
	return k, until, true
}

// deleteFolder deletes an expired minute folder, entry by entry (not every
// storage deletes a folder's contents with it). Another instance may be
// doing the same: what is gone already is no error.
func (rl *revocationList) deleteFolder(ctx context.Context, folder string) {
	entries, _ := rl.storage.List(ctx, folder, false)
	for _, entry := range entries {
		_ = rl.storage.Delete(ctx, entry)
	}
	if err := rl.storage.Delete(ctx, folder); err != nil && !errors.Is(err, fs.ErrNotExist) {
		rl.logger.Debug("deleting expired revocations", zap.String("key", folder), zap.Error(err))
	}
}

// sweep drops expired entries from memory.
func (rl *revocationList) sweep(t int64) {
	for i := range rl.shards {
		s := &rl.shards[i]
		s.mu.Lock()
		for k, until := range s.m {
			if until <= t {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// syncLogged syncs and logs a failure; the next sync tries again.
func (rl *revocationList) syncLogged(ctx context.Context) {
	if err := rl.sync(ctx); err != nil && ctx.Err() == nil {
		rl.logger.Error("reading revocations from storage", zap.Error(err))
	}
}

// revocationPool holds one revocation list per storage in the process,
// shared by every handler on that storage and kept across config reloads
// (the new config's handlers take it before the old ones let it go): one
// sync per storage, however many sites.
var revocationPool = caddy.NewUsagePool()

// pooledRevocations is a pooled list and the life of its sync.
type pooledRevocations struct {
	*revocationList
	stop context.CancelFunc
}

// Destruct stops the sync when the last handler on the storage is gone.
func (p *pooledRevocations) Destruct() error {
	p.stop()
	return nil
}

// storageID names a storage for the pool: its String where it has one
// (Caddy's file system storage says its path, so each config's instance of
// it is the same storage), else its type and address.
func storageID(s certmagic.Storage) string {
	if str, ok := s.(fmt.Stringer); ok {
		return fmt.Sprintf("%T:%s", s, str)
	}
	return fmt.Sprintf("%T:%p", s, s)
}

// acquireRevocations returns the process's revocation list for a storage,
// starting its sync if it is the first: read once now, then every
// syncInterval. The caller releases it with revocationPool.Delete(key).
func acquireRevocations(storage certmagic.Storage) (rl *revocationList, key string, err error) {
	key = storageID(storage)
	val, _, err := revocationPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		logger := caddy.Log().Named("http.handlers.jwt_auth")
		rl := newRevocationList(storage, logger)
		ctx, stop := context.WithCancel(context.Background())
		if err := rl.sync(ctx); err != nil {
			logger.Error("reading revocations from storage; retrying in the background", zap.Error(err))
		}
		go every(ctx, syncInterval, func() { rl.syncLogged(ctx) })
		return &pooledRevocations{rl, stop}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*pooledRevocations).revocationList, key, nil
}
