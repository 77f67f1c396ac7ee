package caddyjwt

import (
	"context"
	"testing"

	"github.com/caddyserver/certmagic"
)

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
