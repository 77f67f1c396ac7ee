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

func TestExpiredFamiliesAreDeleted(t *testing.T) {
	ctx := context.Background()
	is := &issuer{issuerDeps: issuerDeps{storage: &certmagic.FileStorage{Path: t.TempDir()}}}
	_ = is.storeFamily(ctx, "old", family{Sub: "a", Current: "x", Until: time.Now().Add(-time.Minute).Unix()})
	_ = is.storeFamily(ctx, "live", family{Sub: "a", Current: "y", Until: time.Now().Add(time.Hour).Unix()})
	is.deleteExpiredFamilies(ctx)
	keys, _ := is.storage.List(ctx, familyDir, false)
	if len(keys) != 1 || keys[0] != storageKey(familyDir, "live") {
		t.Errorf("families left: %v", keys)
	}
}
