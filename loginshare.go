package caddyjwt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// loginsDir holds, per issuer, one entry per instance with the failed
// logins it counted lately: caddyjwt/logins/<issuer hash>/<instance>.
const loginsDir = "caddyjwt/logins"

// failureShare makes login_limit count for the cluster: every sync
// interval each instance writes the failures it counted (per hashed key:
// no address or user name is written) and takes the failures the others
// counted since it last looked out of its own buckets. N instances behind
// a load balancer so give an attacker the count once, not N times — after
// at most one sync interval (plus the storage's delay), during which each
// instance may let its own count through.
type failureShare struct {
	storage certmagic.Storage
	dir     string // this issuer's folder
	self    string // this instance's entry
	window  time.Duration
	kinds   map[string]*failureLimiter // "ip", "user"
	logger  *zap.Logger

	mu      sync.Mutex                  // serialises syncs; guards what follows
	applied map[string]map[string]int64 // per other instance, per key: failures taken already
	wrote   string                      // what was written last
}

// sharedFailures is what one instance's entry holds: per kind and hashed
// key, the failures counted and when the last one was.
type sharedFailures map[string]map[string]failCount

func newFailureShare(storage certmagic.Storage, issuer string, window time.Duration, kinds map[string]*failureLimiter, logger *zap.Logger) *failureShare {
	sum := sha256.Sum256([]byte(issuer))
	return &failureShare{
		storage: storage, dir: path.Join(loginsDir, hex.EncodeToString(sum[:8])), self: rand.Text(),
		window: window, kinds: kinds, logger: logger, applied: make(map[string]map[string]int64),
	}
}

// sync writes this instance's recent failures when they changed, and
// applies what the other instances counted since the last sync. Entries of
// instances silent for two windows are deleted.
func (s *failureShare) sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	mine := make(sharedFailures, len(s.kinds))
	for kind, fl := range s.kinds {
		if counts := fl.recentFailures(t.Add(-s.window)); len(counts) > 0 {
			mine[kind] = counts
		}
	}
	if data, _ := json.Marshal(mine); string(data) != s.wrote && (len(mine) > 0 || s.wrote != "") {
		if err := s.storage.Store(ctx, path.Join(s.dir, s.self), data); err != nil {
			return err
		}
		s.wrote = string(data)
	}
	names, err := s.storage.List(ctx, s.dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		if path.Base(name) == s.self {
			continue
		}
		s.applyEntry(ctx, name, t)
	}
	return nil
}

// applyEntry takes into this instance's buckets the failures another
// instance counted since they were last taken.
func (s *failureShare) applyEntry(ctx context.Context, name string, t time.Time) {
	if info, err := s.storage.Stat(ctx, name); err == nil && t.Sub(info.Modified) > 2*s.window {
		_ = s.storage.Delete(ctx, name) // an instance gone (or idle long): nothing recent in it
		delete(s.applied, name)
		return
	}
	data, err := s.storage.Load(ctx, name)
	if err != nil {
		return // deleted meanwhile: next time
	}
	var theirs sharedFailures
	if err := json.Unmarshal(data, &theirs); err != nil {
		s.logger.Warn("unreadable failed-login counts", zap.String("key", name), zap.Error(err))
		return
	}
	applied := s.applied[name]
	if applied == nil {
		applied = make(map[string]int64)
		s.applied[name] = applied
	}
	for kind, counts := range theirs {
		fl := s.kinds[kind]
		if fl == nil {
			continue
		}
		for key, c := range counts {
			id := kind + "/" + key
			delta := c.N - applied[id]
			if delta < 0 { // their count started again after a quiet window
				delta = c.N
			}
			if delta > 0 && t.Sub(time.Unix(c.At, 0)) < s.window {
				fl.takeRemote(key, int(delta))
			}
			applied[id] = c.N
		}
	}
}

// syncLogged syncs and logs a failure; the next sync tries again.
func (s *failureShare) syncLogged(ctx context.Context) {
	if err := s.sync(ctx); err != nil && ctx.Err() == nil {
		s.logger.Error("sharing failed-login counts through storage", zap.Error(err))
	}
}
