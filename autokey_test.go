package caddyjwt

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestAutoKeyIsSharedAndKept(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	for _, alg := range autoKeyAlgorithms {
		kids := make(chan string, 2)
		for range 2 {
			go func() {
				a := &autoKeys{alg: alg, storage: storage}
				if err := a.load(ctx); err != nil {
					t.Error(err)
					kids <- ""
					return
				}
				kids <- a.keys()[0].kid
			}()
		}
		first, second := <-kids, <-kids
		if first == "" || first != second {
			t.Errorf("%s: two instances starting together got kids %q and %q", alg, first, second)
		}
		again := &autoKeys{alg: alg, storage: storage}
		if err := again.load(ctx); err != nil || len(again.keys()) != 1 {
			t.Fatalf("%s: a later start: %v", alg, err)
		}
		if k := again.keys()[0]; k.kid != first || k.signer == nil || k.algs[0] != alg {
			t.Errorf("%s: a later start got %+v", alg, k)
		}
	}
	bad := &autoKeys{alg: "HS256", storage: storage}
	if err := bad.load(ctx); err == nil {
		t.Error("key auto HS256 accepted")
	}
}

func TestAutoKeyRotation(t *testing.T) {
	ctx := context.Background()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	defer func(orig func() time.Time) { now = orig }(now)
	clock := time.Now()
	now = func() time.Time { return clock }

	a := &autoKeys{alg: "ES256", rotate: time.Hour, keep: 2 * time.Hour, storage: storage}
	b := &autoKeys{alg: "ES256", rotate: time.Hour, keep: 2 * time.Hour, storage: storage}
	changed := 0
	b.changed = func() { changed++ }
	if err := a.load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.load(ctx); err != nil {
		t.Fatal(err)
	}
	first := a.keys()[0].kid

	clock = clock.Add(61 * time.Minute) // past rotate: a new key signs, the old one verifies
	if err := a.load(ctx); err != nil {
		t.Fatal(err)
	}
	keys := a.keys()
	if len(keys) != 2 || keys[0].kid == first || keys[1].kid != first || keys[0].signer == nil || keys[1].signer != nil {
		t.Fatalf("after rotation: %v", kidsOf(keys))
	}
	if err := b.load(ctx); err != nil || b.keys()[0].kid != keys[0].kid || changed != 1 {
		t.Errorf("the other instance did not agree on the new key: %v %v, changed %d", kidsOf(b.keys()), err, changed)
	}

	clock = clock.Add(30 * time.Minute) // not yet due again
	if err := a.load(ctx); err != nil || a.keys()[0].kid != keys[0].kid {
		t.Errorf("rotated again too early: %v", kidsOf(a.keys()))
	}
	clock = clock.Add(2 * time.Hour) // the retired key outlived every token it signed
	if err := a.load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range a.keys() {
		if k.kid == first {
			t.Errorf("a key retired long ago still verifies: %v", kidsOf(a.keys()))
		}
	}
	names, _ := storage.List(ctx, keysDir, false)
	for _, n := range names {
		if strings.Contains(n, first) {
			t.Errorf("a key retired long ago is still stored: %s", n)
		}
	}
}

func kidsOf(keys []*key) []string {
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.kid)
	}
	return kids
}
