package caddyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Limits on remote key sets.
const (
	remoteMaxBody    = 1 << 20          // larger responses are dropped
	remoteTimeout    = 10 * time.Second // slower responses are dropped
	remoteDefaultTTL = time.Hour        // refresh interval without max-age
	remoteMinTTL     = time.Minute
	remoteMaxTTL     = 24 * time.Hour
	kidRefetchEvery  = time.Minute // at most one refetch for unknown kids per source
	remoteRetryFirst = 5 * time.Second
)

// remoteKeys is a key set fetched from a JWKS URL, or from the jwks_uri
// an OpenID issuer's discovery document names. It is fetched at provision
// and refreshed in the background; a failed fetch keeps the last good
// keys. A server shares one per source across its handlers and config
// reloads (remotePool); each handler takes the keys through a remoteView
// of its own, which binds them to its issuers and narrows them to its
// algorithms. The keys it holds are never changed once stored: views copy
// them.
type remoteKeys struct {
	jwksURL    string   // for jwks; found by discovery for oidc
	issuer     string   // for oidc: the issuer whose discovery is read
	issuers    []string // oidc: the iss values its keys speak for; jwks: nil (each view binds its own)
	client     *http.Client
	logger     *zap.Logger
	life       context.Context // the fetches' own life: the pool entry's
	set        atomic.Pointer[[]*key]
	group      singleflight.Group
	mu         sync.Mutex
	lastKidTry time.Time // guarded by mu

	subsMu sync.Mutex
	subs   map[*remoteView]struct{} // the handlers told of new keys and fetches
}

// newRemoteKeys makes a remote key set of its own (unpooled; caddy jwt
// verify and tests). The keys of an oidc source speak only for its own
// issuer (with or without a final slash).
func newRemoteKeys(jwksURL, issuer string, logger *zap.Logger) *remoteKeys {
	rk := &remoteKeys{
		jwksURL: jwksURL,
		issuer:  strings.TrimSuffix(issuer, "/"),
		logger:  logger,
		life:    context.Background(),
		subs:    make(map[*remoteView]struct{}),
		client:  &http.Client{Timeout: remoteTimeout, CheckRedirect: sameOriginRedirect},
	}
	if rk.issuer != "" {
		rk.issuers = []string{rk.issuer, rk.issuer + "/"}
	}
	return rk
}

// sameOriginRedirect follows at most two redirects, only to the same
// origin: whoever can make a provider redirect must not choose the keys
// (or the token endpoint).
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if from := via[0].URL; req.URL.Scheme != from.Scheme || req.URL.Host != from.Host {
		return errors.New("redirect to another origin refused")
	}
	return checkRemoteURL(req.URL.String())
}

// remoteSourceName names a source: "jwks <url>" or "oidc <issuer>". It is
// also the source's key in remotePool.
func remoteSourceName(jwksURL, issuer string) string {
	if issuer != "" {
		return "oidc " + strings.TrimSuffix(issuer, "/")
	}
	return "jwks " + jwksURL
}

// checkRemoteURL allows https, and http only for loopback hosts.
func checkRemoteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not an absolute URL: %q", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("http:// is allowed only for loopback hosts: %q", raw)
	}
	return fmt.Errorf("not an http(s) URL: %q", raw)
}

func (rk *remoteKeys) source() string { return remoteSourceName(rk.jwksURL, rk.issuer) }

func (rk *remoteKeys) keys() []*key {
	if p := rk.set.Load(); p != nil {
		return *p
	}
	return nil
}

// fetch fetches the key set, shared by concurrent callers, and tells how
// long the keys may be kept.
func (rk *remoteKeys) fetch(ctx context.Context) (time.Duration, error) {
	ttl, err, _ := rk.group.Do("fetch", func() (any, error) { return rk.fetchOnce(ctx) })
	if err != nil {
		return 0, err
	}
	return ttl.(time.Duration), nil
}

func (rk *remoteKeys) fetchOnce(ctx context.Context) (time.Duration, error) {
	ttl, err := rk.fetchKeys(ctx)
	result := "ok"
	if err != nil {
		result = "error"
	}
	// Counted once per metrics registry, however many handlers of a
	// config share the fetch.
	counted := make(map[*prometheus.CounterVec]bool)
	for _, v := range rk.subscribers() {
		if m := v.metrics; m != nil && !counted[m.jwksFetches] {
			counted[m.jwksFetches] = true
			m.jwksFetched(result)
		}
	}
	return ttl, err
}

func (rk *remoteKeys) fetchKeys(ctx context.Context) (time.Duration, error) {
	jwksURL := rk.jwksURL
	if rk.issuer != "" {
		var err error
		if jwksURL, err = rk.discover(ctx); err != nil {
			return 0, err
		}
	}
	body, ttl, err := rk.get(ctx, jwksURL)
	if err != nil {
		return 0, err
	}
	keys, skipped, err := parseJWKs(body, rk.source())
	if err != nil {
		return 0, err
	}
	for _, e := range skipped {
		rk.logger.Warn("key left out of a remote key set", zap.String("source", rk.source()), zap.Error(e))
	}
	keys = slices.DeleteFunc(keys, func(k *key) bool {
		_, symmetric := k.public.([]byte)
		return symmetric // a published HMAC key would let anyone sign
	})
	for _, k := range keys {
		// A remote key only verifies, even if the set leaked a private
		// part; and only for its own kid (its thumbprint when it has
		// none), so that an unknown kid always makes the source look again.
		k.remote, k.signer, k.anyKid, k.refreshSecret = true, nil, false, nil
		k.issuers = rk.issuers
	}
	if len(keys) == 0 {
		return 0, errors.New("no usable signature key in the key set")
	}
	rk.set.Store(&keys)
	for _, v := range rk.subscribers() {
		if v.live.Load() {
			v.changed()
		}
	}
	return ttl, nil
}

// discover reads the issuer's discovery document: its issuer must be the
// configured one, and its jwks_uri is where the keys are.
func (rk *remoteKeys) discover(ctx context.Context) (string, error) {
	body, _, err := rk.get(ctx, rk.issuer+"/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery document: %w", err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != rk.issuer {
		return "", fmt.Errorf("discovery names issuer %q, not %q", doc.Issuer, rk.issuer)
	}
	if err := checkRemoteURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

// get fetches a URL: 200 only, at most 1 MiB, within 10 s; the TTL is the
// response's max-age bounded to 1m–24h, else 1h.
func (rk *remoteKeys) get(ctx context.Context, target string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := rk.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d", target, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, remoteMaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", target, err)
	}
	if len(body) > remoteMaxBody {
		return nil, 0, fmt.Errorf("GET %s: response larger than 1 MiB", target)
	}
	return body, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge reads max-age from Cache-Control, bounded to 1m–24h; 1h without.
func maxAge(cacheControl string) time.Duration {
	for part := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.Atoi(strings.Trim(value, `"`))
		if err != nil || secs < 0 {
			break
		}
		return min(max(time.Duration(secs)*time.Second, remoteMinTTL), remoteMaxTTL)
	}
	return remoteDefaultTTL
}

// run refreshes the keys until ctx is done: after each TTL, or, after a
// failure, sooner (5 s doubling to 1 m), keeping the last good keys.
func (rk *remoteKeys) run(ctx context.Context, wait time.Duration) {
	retry := remoteRetryFirst
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		ttl, err := rk.fetch(ctx)
		if err == nil {
			wait, retry = ttl, remoteRetryFirst
			continue
		}
		if ctx.Err() != nil {
			return
		}
		rk.logFailure(err)
		wait, retry = retry, min(2*retry, remoteMinTTL)
	}
}

func (rk *remoteKeys) logFailure(err error) {
	if rk.keys() == nil {
		rk.logger.Error("remote keys not fetched yet; tokens they would verify are refused",
			zap.String("source", rk.source()), zap.Error(err))
		return
	}
	rk.logger.Warn("remote keys not refreshed; the last good keys stay in use",
		zap.String("source", rk.source()), zap.Error(err))
}

// refetchWait is the longest a request waits for a refetch: a provider
// that hangs costs a request this much, then the request is answered while
// the fetch goes on in the background (bounded by remoteTimeout).
const refetchWait = 3 * time.Second

// refetch fetches again for a token whose kid no key has: at most once a
// minute per source, shared by every request (of any handler) that asks
// meanwhile. It tells whether new keys came within refetchWait; every
// subscribed handler's ring is rebuilt before it returns. The fetch runs
// in the source's own life, not the request's: a request that stops
// waiting leaves the fetch to finish for the requests after it. ctx (the
// asking handler's life) only ends the wait.
func (rk *remoteKeys) refetch(ctx context.Context) bool {
	done := rk.group.DoChan("kid", func() (any, error) {
		rk.mu.Lock()
		if time.Since(rk.lastKidTry) < kidRefetchEvery {
			rk.mu.Unlock()
			return false, nil
		}
		rk.lastKidTry = time.Now()
		rk.mu.Unlock()
		before := rk.set.Load()
		if _, err := rk.fetch(rk.life); err != nil {
			rk.logFailure(err)
			return false, nil
		}
		return rk.set.Load() != before, nil
	})
	timer := time.NewTimer(refetchWait)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.Val.(bool)
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// subscribe tells v of every fetch and every change of keys from now on.
func (rk *remoteKeys) subscribe(v *remoteView) {
	rk.subsMu.Lock()
	rk.subs[v] = struct{}{}
	rk.subsMu.Unlock()
}

func (rk *remoteKeys) unsubscribe(v *remoteView) {
	rk.subsMu.Lock()
	delete(rk.subs, v)
	rk.subsMu.Unlock()
}

func (rk *remoteKeys) subscribers() []*remoteView {
	rk.subsMu.Lock()
	defer rk.subsMu.Unlock()
	out := make([]*remoteView, 0, len(rk.subs))
	for v := range rk.subs {
		out = append(out, v)
	}
	return out
}

// remotePool holds one remote key set per source (jwks URL or oidc
// issuer) in the process: fetched and refreshed once for every handler
// that names it, and kept across config reloads (the new config's
// handlers take it before the old ones let it go).
var remotePool = caddy.NewUsagePool()

// pooledRemote is a pooled key set, the life of its background refresh,
// and ready, closed once the first fetch has been tried.
type pooledRemote struct {
	*remoteKeys
	stop  context.CancelFunc
	ready chan struct{}
}

// Destruct stops the refresh when the last handler naming the source is
// gone.
func (p *pooledRemote) Destruct() error {
	p.stop()
	return nil
}

// acquireRemoteKeys returns the process's key set for a source, starting
// its fetch and background refresh if it is the first to name it. The
// caller releases it with remotePool.Delete(key).
// v is subscribed before the first fetch starts, so that the fetch is
// counted in its metrics; it is told of new keys once live.
func acquireRemoteKeys(jwksURL, issuer string, v *remoteView) (p *pooledRemote, key string, err error) {
	key = remoteSourceName(jwksURL, issuer)
	val, loaded, err := remotePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		rk := newRemoteKeys(jwksURL, issuer, caddy.Log().Named("http.handlers.jwt_auth"))
		rk.subscribe(v)
		ctx, stop := context.WithCancel(context.Background())
		rk.life = ctx
		p := &pooledRemote{remoteKeys: rk, stop: stop, ready: make(chan struct{})}
		go func() {
			ttl, err := rk.fetch(ctx)
			close(p.ready)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				rk.logFailure(err)
				ttl = remoteRetryFirst
			}
			rk.run(ctx, ttl)
		}()
		return p, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", key, err)
	}
	p = val.(*pooledRemote)
	if loaded {
		p.subscribe(v)
	}
	return p, key, nil
}

// remoteView is one handler's view of a shared remote key set: the keys
// bound to the handler's issuers (jwks; an oidc source's keys speak for
// their own issuer) and narrowed to its algorithms. They are copies, made
// again when the set changes; a set left with no key this handler can use
// keeps its last good keys.
type remoteView struct {
	src        *remoteKeys
	poolKey    string // "" when unpooled
	ready      <-chan struct{}
	algorithms []string
	issuers    []string // jwks: the handler's issuers (nil: any)
	changed    func()   // rebuilds the handler's key ring, once live
	live       atomic.Bool
	metrics    *metrics // counts the source's fetches
	logger     *zap.Logger

	mu       sync.Mutex
	base     *[]*key // the source's keys the view was made from
	narrowed []*key
	released sync.Once
}

func (v *remoteView) keys() []*key {
	p := v.src.set.Load()
	v.mu.Lock()
	defer v.mu.Unlock()
	if p == nil || p == v.base {
		return v.narrowed
	}
	v.base = p
	out := make([]*key, 0, len(*p))
	for _, k := range *p {
		c := *k
		if v.src.issuer == "" {
			c.issuers = v.issuers
		}
		if len(v.algorithms) > 0 {
			c.algs = slices.DeleteFunc(slices.Clone(k.algs), func(alg string) bool { return !slices.Contains(v.algorithms, alg) })
			if len(c.algs) == 0 {
				continue
			}
		}
		out = append(out, &c)
	}
	if len(out) == 0 {
		if v.narrowed == nil {
			v.logger.Error("remote keys: no key serves the configured algorithms; tokens they would verify are refused",
				zap.String("source", v.src.source()), zap.Strings("algorithms", v.algorithms))
		} else {
			v.logger.Warn("remote keys: no key serves the configured algorithms; the last good keys stay in use",
				zap.String("source", v.src.source()), zap.Strings("algorithms", v.algorithms))
		}
		return v.narrowed
	}
	v.narrowed = out
	return out
}

// release unsubscribes the view and lets go of its pooled source.
func (v *remoteView) release() {
	v.released.Do(func() {
		v.src.unsubscribe(v)
		if v.poolKey != "" {
			_, _ = remotePool.Delete(v.poolKey)
		}
	})
}
