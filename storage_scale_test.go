package caddyjwt

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
	"golang.org/x/crypto/bcrypt"
)

// provisionWith provisions a jwt_auth block on a given storage (a
// wrapper that counts or slows its operations).
func provisionWith(t testing.TB, storage certmagic.Storage, block string) *Handler {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(withTestIssuer(block))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.provision(ctx, storage); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return h
}

// slowStorage adds a delay to every operation, as a network store
// (Redis, Consul, S3) would, and counts the operations by name.
type slowStorage struct {
	certmagic.Storage
	delay time.Duration
	mu    sync.Mutex
	ops   map[string]int
}

func newSlowStorage(dir string, delay time.Duration) *slowStorage {
	return &slowStorage{Storage: &certmagic.FileStorage{Path: dir}, delay: delay, ops: make(map[string]int)}
}

func (s *slowStorage) op(name string) {
	s.mu.Lock()
	s.ops[name]++
	s.mu.Unlock()
	time.Sleep(s.delay)
}

// counts returns the operations counted so far, and resets them.
func (s *slowStorage) counts() (total int, byOp map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOp = s.ops
	s.ops = make(map[string]int)
	for _, n := range byOp {
		total += n
	}
	return total, byOp
}

func (s *slowStorage) Store(ctx context.Context, key string, value []byte) error {
	s.op("Store")
	return s.Storage.Store(ctx, key, value)
}

func (s *slowStorage) Load(ctx context.Context, key string) ([]byte, error) {
	s.op("Load")
	return s.Storage.Load(ctx, key)
}

func (s *slowStorage) Delete(ctx context.Context, key string) error {
	s.op("Delete")
	return s.Storage.Delete(ctx, key)
}

func (s *slowStorage) Exists(ctx context.Context, key string) bool {
	s.op("Exists")
	return s.Storage.Exists(ctx, key)
}

func (s *slowStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	s.op("List")
	return s.Storage.List(ctx, prefix, recursive)
}

func (s *slowStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	s.op("Stat")
	return s.Storage.Stat(ctx, key)
}

func (s *slowStorage) Lock(ctx context.Context, name string) error {
	s.op("Lock")
	return s.Storage.Lock(ctx, name)
}

func (s *slowStorage) Unlock(ctx context.Context, name string) error {
	s.op("Unlock")
	return s.Storage.Unlock(ctx, name)
}

// rootListings counts the listings of the revocation folder (one per
// sync), with the time of each.
type rootListings struct {
	certmagic.Storage
	mu    sync.Mutex
	times []time.Time
	other atomic.Int64
}

func (s *rootListings) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if prefix == revokedDir {
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.mu.Unlock()
	} else {
		s.other.Add(1)
	}
	return s.Storage.List(ctx, prefix, recursive)
}

func (s *rootListings) since(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.times {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

// TestTwentySitesOneSync: 20 jwt_auth handlers on one storage share one
// revocation list, whose sync lists the storage once per interval when
// nothing is new (20 syncs of their own would list it 20 times).
func TestTwentySitesOneSync(t *testing.T) {
	storage := &rootListings{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	const sites = 20
	handlers := make([]*Handler, sites)
	for i := range handlers {
		handlers[i] = provisionWith(t, storage, "jwt_auth {\n secret "+testSecret+"\n}")
	}
	for _, h := range handlers[1:] {
		if h.revocations != handlers[0].revocations {
			t.Fatal("two handlers on one storage hold two revocation lists")
		}
	}
	if refs, _ := revocationPool.References(handlers[0].revocationsKey); refs != sites {
		t.Errorf("pool references %d, want %d", refs, sites)
	}
	// Over two intervals and a half, whatever their phase: at most 3
	// syncs, each one listing; 20 syncs would make 40 or more.
	start := time.Now()
	time.Sleep(2*syncInterval + syncInterval/2)
	n := storage.since(start)
	t.Logf("%d sites on one storage: %d listings of %s in %v (sync interval %v)", sites, n, revokedDir, time.Since(start).Round(time.Millisecond), syncInterval)
	if n < 1 || n > 3 {
		t.Errorf("%d listings in 2.5 sync intervals, want 2 or 3 (one per interval)", n)
	}
	if o := storage.other.Load(); o != 0 {
		t.Errorf("%d listings of other folders when nothing was new", o)
	}
}

// loginDelay is what every operation of slowStorage costs: a network
// store's round trip.
const loginDelay = 5 * time.Millisecond

// TestLoginStorageRoundTrips counts the storage operations of one JSON
// login (with refresh on: the login's family is stored) on a storage
// adding 5 ms to each. The guard's hot path makes none.
func TestLoginStorageRoundTrips(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	storage := newSlowStorage(t.TempDir(), loginDelay)
	h := provisionWith(t, storage, "jwt_auth {\n key auto\n user alice "+string(hash)+"\n login /login\n refresh /refresh\n}")

	storage.counts()
	r := httptest.NewRequest(http.MethodPost, "http://example.com/login", strings.NewReader(`{"username":"alice","password":"right"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	start := time.Now()
	res := serveWith(t, h, w, r)
	took := time.Since(start)
	if res.status != 200 && w.Code != 200 {
		t.Fatalf("login: %d %d", res.status, w.Code)
	}
	total, byOp := storage.counts()
	t.Logf("one login: %d storage round trips %v, %v in all (bcrypt cost %d)", total, byOp, took.Round(time.Millisecond), bcrypt.MinCost)
	if total > 4 {
		t.Errorf("one login made %d storage round trips %v", total, byOp)
	}

	// The guard: a valid token, checked again and again, never reaches
	// the storage.
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.AccessToken == "" {
		t.Fatalf("login answer: %v %s", err, w.Body.String())
	}
	for range 100 {
		if res := serve(t, h, bearer(body.AccessToken)); res.status != 0 {
			t.Fatalf("guard: %d", res.status)
		}
	}
	if total, byOp := storage.counts(); total != 0 {
		t.Errorf("100 guarded requests made %d storage operations %v", total, byOp)
	}
}

// BenchmarkGuardSlowStorage: the guard's throughput on a storage adding
// 5 ms to every operation against the same on a plain folder (ES256;
// hit: one token, the cache answers; miss: 500 tokens, cache off).
func BenchmarkGuardSlowStorage(b *testing.B) {
	a := benchAlgs(b)[1] // ES256
	for _, c := range []struct {
		name   string
		cache  bool
		tokens int
	}{{"hit", true, 1}, {"miss", false, 500}} {
		for _, st := range []string{"plain", "slow5ms"} {
			b.Run(c.name+"/"+st, func(b *testing.B) {
				var storage certmagic.Storage = &certmagic.FileStorage{Path: b.TempDir()}
				if st != "plain" {
					storage = newSlowStorage(b.TempDir(), loginDelay)
				}
				h := provisionWith(b, storage, "jwt_auth {\n "+a.conf+"\n}")
				if !c.cache {
					h.cache = nil
				}
				benchServe(b, h, benchTokens(b, a.alg, a.sign, c.tokens), 0)
			})
		}
	}
}
