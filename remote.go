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
// keys.
type remoteKeys struct {
	jwksURL    string // for jwks; found by discovery for oidc
	issuer     string // for oidc: the issuer whose discovery is read
	algorithms []string
	issuers    []string // the iss values its keys speak for; nil: any
	client     *http.Client
	logger     *zap.Logger
	fetched    func(result string) // metrics: ok or error
	changed    func()              // called when the keys changed
	set        atomic.Pointer[[]*key]
	group      singleflight.Group
	mu         sync.Mutex
	lastKidTry time.Time // guarded by mu
}

// newRemoteKeys makes a remote key set. Its keys speak only for issuers:
// for an oidc source, its own issuer (with or without a final slash),
// whatever issuers says; for a jwks source, issuers (nil: any).
func newRemoteKeys(jwksURL, issuer string, algorithms, issuers []string, logger *zap.Logger) *remoteKeys {
	rk := &remoteKeys{
		jwksURL:    jwksURL,
		issuer:     strings.TrimSuffix(issuer, "/"),
		algorithms: algorithms,
		issuers:    issuers,
		logger:     logger,
		client: &http.Client{
			Timeout: remoteTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				// Only to the same origin: whoever can make the provider
				// redirect must not choose the keys.
				if from := via[0].URL; req.URL.Scheme != from.Scheme || req.URL.Host != from.Host {
					return errors.New("redirect to another origin refused")
				}
				return checkRemoteURL(req.URL.String())
			},
		},
	}
	if rk.issuer != "" {
		rk.issuers = []string{rk.issuer, rk.issuer + "/"}
	}
	return rk
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

func (rk *remoteKeys) source() string {
	if rk.issuer != "" {
		return "oidc " + rk.issuer
	}
	return "jwks " + rk.jwksURL
}

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
	if rk.fetched != nil {
		rk.fetched(result)
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
	if keys = narrowRemote(keys, rk.algorithms); len(keys) == 0 {
		return 0, errors.New("no usable signature key in the key set")
	}
	rk.set.Store(&keys)
	if rk.changed != nil {
		rk.changed()
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
// minute, shared by every request that asks meanwhile. It tells whether
// new keys came within refetchWait. ctx is the fetch's own life (the
// handler's), not the request's: a request that stops waiting leaves the
// fetch to finish for the requests after it.
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
		if _, err := rk.fetch(ctx); err != nil {
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
