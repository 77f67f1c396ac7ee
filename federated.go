package caddyjwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Federated sign-in: an identity_provider at run time. Its discovery
// document is read in the background at start and, while it has not been
// read, again on demand (at most once per providerRetry); once read it is
// kept for the life of the config. Every request to the provider
// (discovery, JWKS, token, userinfo) goes through one client with the
// limits of remote keys: 10 s, 1 MiB, same-origin redirects. go-oidc keeps
// the provider's last good keys when a refetch fails.

// providerRetry is the least time between two discovery attempts of a
// provider that could not be reached.
const providerRetry = 10 * time.Second

var errProviderUnreachable = errors.New("the provider's discovery document could not be read")

// provider is one identity_provider: its config, paths and client, and
// what discovery found.
type provider struct {
	IdentityProvider
	secret   string   // client_secret, placeholders resolved
	scopes   []string // scopes asked for, openid first
	copied   []string // claims copied into issued tokens
	start    string   // <login>/<name>
	callback string   // <login>/<name>/callback
	client   *http.Client
	logger   *zap.Logger
	life     context.Context // the handler's: discovery stops with it

	group   singleflight.Group
	mu      sync.Mutex
	op      *oidc.Provider // nil until discovered
	verify  *oidc.IDTokenVerifier
	lastTry time.Time
}

// newProvider builds a provider from its (validated) config: the secret's
// placeholders are resolved here, and must leave a secret.
func newProvider(cfg IdentityProvider, login string, logger *zap.Logger) (*provider, error) {
	p := &provider{
		IdentityProvider: cfg,
		secret:           caddy.NewReplacer().ReplaceKnown(cfg.ClientSecret, ""),
		start:            providerPath(login, cfg.Name),
		logger:           logger.With(zap.String("identity_provider", cfg.Name)),
		client:           providerClient(),
		life:             context.Background(),
	}
	if p.secret == "" {
		return nil, fmt.Errorf("identity_provider %s: client_secret: empty once its placeholders are resolved", cfg.Name)
	}
	p.callback = p.start + "/callback"
	p.scopes = []string{oidc.ScopeOpenID}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	for _, s := range scopes {
		if !slices.Contains(p.scopes, s) {
			p.scopes = append(p.scopes, s)
		}
	}
	p.copied = cfg.Claims
	if len(p.copied) == 0 {
		p.copied = defaultCopiedClaims
	}
	return p, nil
}

// providerClient is the HTTP client of every request to a provider:
// 10 s per request, bodies over 1 MiB cut off with an error, redirects
// only to the same origin.
func providerClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Timeout:       remoteTimeout,
		Transport:     cappedTransport{base: base, max: remoteMaxBody},
		CheckRedirect: sameOriginRedirect,
	}
}

// cappedTransport fails the reading of any response body longer than
// max, so that no library reading through it holds more.
type cappedTransport struct {
	base http.RoundTripper
	max  int64
}

var errBodyTooLarge = errors.New("response larger than 1 MiB")

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// discoverLoop reads the discovery document in the background at start,
// retrying (every providerRetry, doubling to remoteMinTTL) until it is
// read or ctx, the handler's life, is done, so that the first person to
// click does not wait.
func (p *provider) discoverLoop(ctx context.Context) {
	wait := providerRetry
	for {
		err := p.discoverShared()
		if err == nil || ctx.Err() != nil {
			return
		}
		p.logger.Warn("identity provider not reachable yet; its sign-in answers 400 until it is",
			zap.String("issuer", p.Issuer), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, remoteMinTTL)
	}
}

// discovered is the provider's discovery and ID token verifier, reading
// the discovery document first when it has not been read (shared by
// concurrent requests, at most once per providerRetry). A request waits
// at most refetchWait for it.
func (p *provider) discovered(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	op, verify, tooSoon := p.op, p.verify, time.Since(p.lastTry) < providerRetry
	p.mu.Unlock()
	if op != nil {
		return op, verify, nil
	}
	if tooSoon {
		return nil, nil, errProviderUnreachable
	}
	done := p.group.DoChan("discover", func() (any, error) { return nil, p.discover() })
	timer := time.NewTimer(refetchWait)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.Err != nil {
			return nil, nil, res.Err
		}
	case <-timer.C:
		return nil, nil, errProviderUnreachable
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.op, p.verify, nil
}

// discoverShared reads the discovery document once for every caller
// waiting on it.
func (p *provider) discoverShared() error {
	_, err, _ := p.group.Do("discover", func() (any, error) { return nil, p.discover() })
	return err
}

func (p *provider) discover() error {
	p.mu.Lock()
	if p.op != nil {
		p.mu.Unlock()
		return nil
	}
	p.lastTry = time.Now()
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.life, remoteTimeout)
	defer cancel()
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.Issuer)
	if err != nil {
		return fmt.Errorf("%w: %w", errProviderUnreachable, err)
	}
	verify := op.Verifier(&oidc.Config{ClientID: p.ClientID, Now: func() time.Time { return now() }})
	p.mu.Lock()
	p.op, p.verify = op, verify
	p.mu.Unlock()
	p.logger.Info("identity provider discovered", zap.String("issuer", p.Issuer))
	return nil
}

// oauth is the OAuth 2 client of a sign-in whose redirect URI is given.
func (p *provider) oauth(op *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.secret, Endpoint: op.Endpoint(),
		RedirectURL: redirectURI, Scopes: p.scopes,
	}
}

// needed are the top-level claims the allow rules and the copied claims
// read (email brings email_verified).
func (p *provider) needed() []string {
	var names []string
	add := func(c string) {
		top, _, _ := strings.Cut(c, ".")
		if !slices.Contains(names, top) {
			names = append(names, top)
		}
	}
	for _, rule := range p.Allow {
		add(rule.Claim)
		if rule.Claim == "email" {
			add("email_verified")
		}
	}
	for _, c := range p.copied {
		add(c)
		if c == "email" {
			add("email_verified")
		}
	}
	return names
}

// allows tells whether every allow rule holds for the claims (from which
// an unverified email has been removed).
func (p *provider) allows(claims map[string]any) bool {
	for _, rule := range p.Allow {
		if !rule.holds(claims) {
			return false
		}
	}
	return true
}

// allowClaims are the claims the allow rules read, kept with the login
// so that every refresh checks them against the rules of the day.
func (p *provider) allowClaims(claims map[string]any) map[string]any {
	out := make(map[string]any)
	for _, rule := range p.Allow {
		top, _, _ := strings.Cut(rule.Claim, ".")
		if v, ok := claims[top]; ok {
			out[top] = v
		}
		if v, ok := claims[rule.Claim]; ok {
			out[rule.Claim] = v
		}
	}
	return out
}

// carried are the claims of a federated login written into each of its
// tokens: idp, amr (the provider's, else ["fed"]) and the copied claims.
func (p *provider) carried(claims map[string]any) map[string]any {
	out := map[string]any{"idp": p.Name, "amr": []any{"fed"}}
	if amr, ok := claims["amr"].([]any); ok && len(amr) > 0 && allStrings(amr) {
		out["amr"] = amr
	}
	for _, c := range p.copied {
		if v, ok := lookupClaim(claims, c); ok && v != nil {
			out[c] = v
		}
	}
	return out
}

func allStrings(list []any) bool {
	for _, v := range list {
		if _, ok := v.(string); !ok {
			return false
		}
	}
	return true
}

// dropUnverifiedEmail removes email unless email_verified is true (or
// "true", as some providers send it): an unverified address never
// matches a rule and is never copied.
func dropUnverifiedEmail(claims map[string]any) {
	if v := claims["email_verified"]; v != true && v != "true" {
		delete(claims, "email")
	}
}

// providerOf is the identity provider a sub belongs to ("<name>:..."),
// or nil for a password user's.
func (is *issuer) providerOf(sub string) *provider {
	name, _, ok := strings.Cut(sub, ":")
	if !ok {
		return nil
	}
	return is.providers[name]
}
