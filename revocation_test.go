package caddyjwt

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

func TestRevocationsShareStorage(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a := newRevocationList(storage, zap.NewNop())
	b := newRevocationList(storage, zap.NewNop())

	if err := a.revoke(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !a.revoked("jti-1") {
		t.Error("not revoked at once on the instance that revoked it")
	}
	if b.revoked("jti-1") {
		t.Error("revoked on the other instance before it synced")
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.revoked("jti-1") || b.revoked("jti-2") {
		t.Error("the other instance did not pick the revocation up")
	}

	// A restart reads everything back.
	restarted := newRevocationList(storage, zap.NewNop())
	if err := restarted.sync(ctx); err != nil || !restarted.revoked("jti-1") {
		t.Errorf("lost on restart: %v", err)
	}
}

func TestRevocationsExpire(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rl := newRevocationList(storage, zap.NewNop())
	if err := rl.revoke(ctx, "short", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	defer func(orig func() time.Time) { now = orig }(now)
	now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if rl.revoked("short") {
		t.Error("an entry outlives its token")
	}
	other := newRevocationList(storage, zap.NewNop())
	if err := other.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := storage.List(ctx, revokedDir, false); len(keys) != 0 {
		t.Errorf("expired entries left in storage: %v", keys)
	}
}

func TestAutoKeyIsSharedAndKept(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	for _, alg := range autoKeyAlgorithms {
		kids := make(chan string, 2)
		for range 2 {
			go func() {
				k, err := loadAutoKey(ctx, storage, alg)
				if err != nil {
					t.Error(err)
					kids <- ""
					return
				}
				kids <- k.kid
			}()
		}
		first, second := <-kids, <-kids
		if first == "" || first != second {
			t.Errorf("%s: two instances starting together got kids %q and %q", alg, first, second)
		}
		again, err := loadAutoKey(ctx, storage, alg)
		if err != nil || again.kid != first || again.signer == nil || again.algs[0] != alg {
			t.Errorf("%s: a later start got %+v, %v", alg, again, err)
		}
	}
	if _, err := loadAutoKey(ctx, storage, "HS256"); err == nil {
		t.Error("key auto HS256 accepted")
	}
}
