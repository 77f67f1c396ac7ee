package caddyjwt

import (
	"context"
	"strconv"
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

// TestOwnRevocationsAreDeleted: the entries an instance wrote itself are
// deleted from storage, and dropped from memory, once every token they
// refuse has expired — while it runs, not only by other instances.
func TestOwnRevocationsAreDeleted(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	rl := newRevocationList(storage, zap.NewNop())
	start := time.Now()
	for i := range 60 {
		if err := rl.revoke(ctx, "jti-"+strconv.Itoa(i), start.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !rl.revoked("jti-7") {
		t.Fatal("not revoked")
	}
	defer func(orig func() time.Time) { now = orig }(now)
	now = func() time.Time { return start.Add(3 * time.Minute) }
	if err := rl.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := storage.List(ctx, revokedDir, true); len(keys) != 0 {
		t.Errorf("%d expired entries left in storage", len(keys))
	}
	n := 0
	for i := range rl.shards {
		n += len(rl.shards[i].m)
	}
	if n != 0 {
		t.Errorf("%d expired entries left in memory", n)
	}
}

// TestRevocationSyncReadsOnlyWhatChanged: a sync that finds nothing new
// lists the minute folders once and no folder it has read, unless it is
// recent.
func TestRevocationSyncReadsOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	storage := newSlowStorage(t.TempDir(), 0) // no delay: only its counts

	writer := newRevocationList(storage, zap.NewNop())
	start := time.Now()
	defer func(orig func() time.Time) { now = orig }(now)
	now = func() time.Time { return start.Add(-10 * time.Minute) }
	for i := range 100 {
		if err := writer.revoke(ctx, "old-"+strconv.Itoa(i), start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	now = func() time.Time { return start }
	reader := newRevocationList(storage, zap.NewNop())
	if err := reader.sync(ctx); err != nil || !reader.revoked("old-42") {
		t.Fatalf("first sync: %v", err)
	}
	storage.counts() // from here on
	if err := reader.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ops := storage.counts(); ops["List"] != 1 {
		t.Errorf("a sync with nothing new listed %d times, want 1", ops["List"])
	}
	if err := writer.revoke(ctx, "new", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := reader.sync(ctx); err != nil || !reader.revoked("new") {
		t.Errorf("a new revocation was not read: %v", err)
	}
}
