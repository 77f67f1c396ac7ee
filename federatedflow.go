package caddyjwt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// The sign-in with an identity provider: GET <login>/<name> sends the
// browser to the provider with a fresh state, nonce and PKCE verifier,
// which a short-lived HttpOnly cookie keeps in this browser (it reaches
// only the callback); GET <login>/<name>/callback checks them, exchanges
// the code, verifies the ID token and the allow rules, and starts a login
// as a password does. A callback that fails sets no cookie and answers
// the login page with a message: 400, or 403 for a person not allowed.

// flowTTL is how long a sign-in at the provider may take.
const flowTTL = 10 * time.Minute

// maxFlowReturn bounds the return target kept in the flow cookie.
const maxFlowReturn = 2048

// flow is a sign-in under way, as its cookie keeps it.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
	Exp      int64  `json:"e"`
}

// federatedLogin marks a login's refresh family as federated: the
// provider, and the claims its allow rules read at sign-in, which every
// refresh checks again against the rules of the current config.
type federatedLogin struct {
	Provider string         `json:"provider"`
	Claims   map[string]any `json:"claims,omitempty"`
}

// flowCookie is the cookie of a sign-in under way: host-only, reaching
// only the callback, HttpOnly, SameSite=Lax (the provider sends the
// browser back with a top-level GET from its own site).
func (is *issuer) flowCookie(p *provider, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: is.cookie.Name + "_oidc", Value: value, Path: p.callback, MaxAge: maxAge,
		HttpOnly: true, Secure: !is.cookie.Insecure, SameSite: http.SameSiteLaxMode,
	}
}

// redirectURI is the callback's URL on the origin the browser addressed:
// what the provider must have registered.
func redirectURI(r *http.Request, p *provider) string {
	return requestOrigin(r) + p.callback
}

// serveFederatedStart starts a sign-in with the provider.
func (is *issuer) serveFederatedStart(p *provider) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodNotAllowed(w, "GET, HEAD")
		}
		ret := is.returnTarget(r.URL.Query().Get("return"))
		op, _, err := p.discovered(r.Context())
		if err != nil {
			return is.refuseFederated(w, r, p, ret, http.StatusBadRequest, "provider unreachable", err)
		}
		f := flow{
			State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
			Return: ret, Exp: now().Add(flowTTL).Unix(),
		}
		if len(f.Return) > maxFlowReturn {
			f.Return = "/"
		}
		data, _ := json.Marshal(f)
		http.SetCookie(w, is.flowCookie(p, base64.RawURLEncoding.EncodeToString(data), int(flowTTL/time.Second)))
		target := p.oauth(op, redirectURI(r, p)).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
}

// readFlow reads the sign-in under way from its cookie: errors for none,
// one that does not decode, or one past its time.
func (is *issuer) readFlow(r *http.Request, p *provider) (flow, error) {
	var f flow
	var raw string
	for _, c := range r.CookiesNamed(is.cookie.Name + "_oidc") {
		if raw != "" && c.Value != raw {
			return f, errors.New("two sign-in cookies")
		}
		raw = c.Value
	}
	if raw == "" {
		return f, errors.New("no sign-in under way in this browser")
	}
	data, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || json.Unmarshal(data, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, errors.New("sign-in cookie does not decode")
	}
	if now().Unix() > f.Exp {
		return flow{}, errors.New("sign-in took too long")
	}
	return f, nil
}

// serveFederatedCallback finishes a sign-in with the provider.
func (is *issuer) serveFederatedCallback(p *provider) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, "GET")
		}
		f, err := is.readFlow(r, p)
		if err != nil {
			return is.refuseFederated(w, r, p, "/", http.StatusBadRequest, "bad state", err)
		}
		ret := is.returnTarget(f.Return)
		q := r.URL.Query()
		if code := q.Get("error"); code != "" {
			return is.refuseFederated(w, r, p, ret, http.StatusBadRequest, "provider error",
				fmt.Errorf("the provider answered %s", quoteUserName(code)))
		}
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
			return is.refuseFederated(w, r, p, ret, http.StatusBadRequest, "bad state", errors.New("state does not match this browser's sign-in"))
		}
		spent := flowID(f.State)
		if is.revocations.revoked(spent) {
			return is.refuseFederated(w, r, p, ret, http.StatusBadRequest, "bad state", errors.New("callback replayed"))
		}
		ctx, cancel := context.WithTimeout(r.Context(), remoteTimeout)
		defer cancel()
		sub, claims, err := is.federatedIdentity(oidc.ClientContext(ctx, p.client), r, p, f, q.Get("code"))
		if err != nil {
			return is.refuseFederated(w, r, p, ret, http.StatusBadRequest, "sign-in failed", err)
		}
		if !p.allows(claims) {
			is.logLoginFailure(r, sub, "not allowed by identity_provider "+p.Name)
			is.metrics.loggedIn("forbidden")
			page := loginPage{Return: ret, Error: "Your " + p.Name + " account may not sign in here."}
			return is.renderLoginPage(w, r, page, http.StatusForbidden)
		}
		if err := is.revocations.revoke(r.Context(), spent, time.Unix(f.Exp, 0).Add(is.leeway)); err != nil {
			return is.refuseFederated(w, r, p, ret, http.StatusServiceUnavailable, "storage unavailable", err)
		}
		fed := &federatedLogin{Provider: p.Name, Claims: p.allowClaims(claims)}
		tok, err := is.startLoginOf(r, sub, nil, p.carried(claims), fed)
		if err != nil {
			return err
		}
		is.logger.Info("login", zap.String("user", sub), zap.String("identity_provider", p.Name), zap.String("client_ip", clientIP(r)))
		is.metrics.loggedIn("ok")
		is.setCookies(w, tok)
		http.SetCookie(w, is.flowCookie(p, "", -1))
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return nil
	}
}

// flowID is the key under which a finished sign-in is remembered as
// spent (in the revocation list, shared by the cluster), so that its
// callback is never taken twice.
func flowID(state string) string {
	sum := sha256.Sum256([]byte("caddyjwt oidc state\x00" + state))
	return "oidc-" + hex.EncodeToString(sum[:16])
}

// federatedIdentity exchanges the code (with the PKCE verifier), verifies
// the ID token (signature from the provider's keys, iss, aud, exp, and
// the nonce of this browser's sign-in), and answers the login's sub and
// the person's claims: the ID token's, completed from the userinfo
// endpoint when a claim the rules read is missing, numbers kept as their
// JSON text, an unverified email removed.
func (is *issuer) federatedIdentity(ctx context.Context, r *http.Request, p *provider, f flow, code string) (string, map[string]any, error) {
	if code == "" {
		return "", nil, errors.New("no code in the callback")
	}
	op, verify, err := p.discovered(ctx)
	if err != nil {
		return "", nil, err
	}
	tok, err := p.oauth(op, redirectURI(r, p)).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return "", nil, fmt.Errorf("code exchange refused: status %d, error %s", re.Response.StatusCode, quoteUserName(re.ErrorCode))
		}
		return "", nil, fmt.Errorf("code exchange failed: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", nil, errors.New("no id_token in the token response")
	}
	idt, err := verify.Verify(ctx, raw)
	if err != nil {
		return "", nil, fmt.Errorf("ID token refused: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return "", nil, errors.New("ID token refused: nonce does not match this browser's sign-in")
	}
	sub := p.Name + ":" + idt.Subject
	if idt.Subject == "" || checkUserName(sub) != nil {
		return "", nil, errors.New("ID token refused: its sub is empty, too long or not clean text")
	}
	var payload json.RawMessage
	if err := idt.Claims(&payload); err != nil {
		return "", nil, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return "", nil, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	if err := p.completeFromUserinfo(ctx, op, tok, idt.Subject, claims); err != nil {
		return "", nil, err
	}
	dropUnverifiedEmail(claims)
	return sub, claims, nil
}

// completeFromUserinfo adds the claims the rules read that the ID token
// lacks from the userinfo endpoint (many providers put email only there),
// never replacing one, and only when userinfo speaks of the same sub.
func (p *provider) completeFromUserinfo(ctx context.Context, op *oidc.Provider, tok *oauth2.Token, subject string, claims map[string]any) error {
	missing := false
	for _, c := range p.needed() {
		if _, ok := claims[c]; !ok {
			missing = true
		}
	}
	if !missing || op.UserInfoEndpoint() == "" {
		return nil
	}
	info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if info.Subject != subject {
		return errors.New("userinfo names another sub than the ID token")
	}
	var payload json.RawMessage
	if err := info.Claims(&payload); err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	more, err := decodeClaims(payload)
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// decodeClaims decodes a JSON object of claims, numbers as json.Number
// (compared and copied by their JSON text).
func decodeClaims(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("not a JSON object")
	}
	return claims, nil
}

// refuseFederated answers a sign-in that failed: the login page with a
// message, no cookie set, and a WARN log with the reason (never a code,
// a token or the secret).
func (is *issuer) refuseFederated(w http.ResponseWriter, r *http.Request, p *provider, ret string, status int, reason string, err error) error {
	is.logger.Warn("federated sign-in refused",
		zap.String("identity_provider", p.Name), zap.String("reason", reason),
		zap.String("client_ip", clientIP(r)), zap.Error(err))
	is.metrics.loggedIn("federated_refused")
	msg := "Signing in with " + p.Name + " did not work. Please try again."
	if status == http.StatusServiceUnavailable {
		msg = "Signing in is not possible right now. Please try again later."
	}
	return is.renderLoginPage(w, r, loginPage{Return: ret, Error: msg}, status)
}
