package caddyjwt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// family is a login's refresh state in storage: the refresh token that
// may be spent next, the one spent just before it (which still refreshes
// within refresh_grace), and the login's limits.
type family struct {
	Sub     string `json:"sub"`
	Current string `json:"current"`
	// Until is when the login ends unless refreshed: the idle limit
	// (refresh_ttl from the last refresh), never past the absolute one.
	Until int64 `json:"until"`
	// Start is the sign-in (Unix seconds), from which session_ttl counts.
	Start int64 `json:"start,omitempty"`
	// Previous is the refresh token spent last, accepted again until
	// GraceUntil (Unix milliseconds) as a tab racing the one that spent it.
	Previous   string `json:"previous,omitempty"`
	GraceUntil int64  `json:"grace_until_ms,omitempty"`
	// Claims are claims the login carries from sign-in to every refreshed
	// token besides the user's own (such as amr); nil for none.
	Claims map[string]any `json:"claims,omitempty"`
	// Fed marks a sign-in with an identity provider; nil for a password.
	Fed *federatedLogin `json:"fed,omitempty"`
}

// familyLocks serialise the spends of a process per login (striped by
// the login's id), ahead of the storage lock that serialises the cluster.
var (
	familyLocks [64]sync.Mutex
	familySeed  = maphash.MakeSeed()
)

var (
	errRefreshInvalid = errors.New("refresh token invalid")
	errRefreshReused  = errors.New("refresh token reused: login revoked")
	errSessionOver    = errors.New("the login reached session_ttl")
	// errUnavailable marks a refresh that failed on the server's side
	// (storage, signing) rather than for its token: 503, not 401.
	errUnavailable = errors.New("refresh unavailable")
)

// newFamily is the refresh state of a login that starts now, and the
// jti its first refresh token carries.
func (is *issuer) newFamily(sub string, claims map[string]any) family {
	t := now()
	return family{
		Sub: sub, Current: rand.Text(), Start: t.Unix(), Claims: claims,
		Until: min(t.Add(is.refreshTTL).Unix(), t.Add(is.sessionTTL).Unix()),
	}
}

// end is the login's absolute limit.
func (is *issuer) end(fam family) time.Time {
	return time.Unix(fam.Start, 0).Add(is.sessionTTL)
}

func (is *issuer) storeFamily(ctx context.Context, sid string, fam family) error {
	data, _ := json.Marshal(fam)
	return is.storage.Store(ctx, storageKey(familyDir, sid), data)
}

// spend spends a login's refresh token jti under a storage lock, so that
// one refresh token is spent once across every instance, and answers the
// family as it now is: its Current is the jti of the refresh token to
// issue.
//
// The current token rotates. The token spent just before it, presented
// within refresh_grace, is a second tab racing the first: it gets the
// same next token, and nothing changes. Any other token is reuse
// (errRefreshReused), and the caller revokes the login. A login past its
// absolute limit is over (errRefreshInvalid).
func (is *issuer) spend(ctx context.Context, sid, jti string) (family, error) {
	// The grace is judged from when the request arrived, not from when it
	// got the lock: tabs racing wait for each other, and a storage lock
	// under contention (file_system polls once a second) can hold the last
	// of them past the grace.
	arrived := now()
	// Requests of one process for one login queue on a mutex first, so
	// that they meet the storage lock one at a time, without its polling.
	stripe := &familyLocks[maphash.String(familySeed, sid)%uint64(len(familyLocks))]
	stripe.Lock()
	defer stripe.Unlock()
	lock := "caddyjwt_family_" + storageKey("", sid)
	if err := is.storage.Lock(ctx, lock); err != nil {
		return family{}, fmt.Errorf("locking the login: %w", err)
	}
	defer func() { _ = is.storage.Unlock(context.WithoutCancel(ctx), lock) }()

	data, err := is.storage.Load(ctx, storageKey(familyDir, sid))
	if errors.Is(err, fs.ErrNotExist) {
		return family{}, errRefreshInvalid // logged out, reused before, or expired
	}
	if err != nil {
		return family{}, err
	}
	var fam family
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // carried claims keep their JSON text, as at sign-in
	if err := dec.Decode(&fam); err != nil {
		return family{}, fmt.Errorf("reading the login: %w", err)
	}
	t := now()
	if fam.Start == 0 { // stored before session_ttl: counted from now
		fam.Start = t.Unix()
	}
	switch {
	case !t.Before(is.end(fam)):
		_ = is.storage.Delete(ctx, storageKey(familyDir, sid))
		return fam, errRefreshInvalid
	case jti == fam.Current:
		fam.Previous, fam.GraceUntil = jti, t.Add(is.grace).UnixMilli()
		fam.Current = rand.Text()
		fam.Until = min(t.Add(is.refreshTTL).Unix(), is.end(fam).Unix())
		return fam, is.storeFamily(ctx, sid, fam)
	case jti == fam.Previous && is.grace > 0 && arrived.UnixMilli() < fam.GraceUntil: // spent less than refresh_grace before it arrived (or after: a racing tab)
		return fam, nil
	default:
		return fam, errRefreshReused
	}
}

// refresh trades a refresh token for new tokens of its login: the
// shared path of the refresh endpoint and of the login page's automatic
// sign-in. Errors: errRefreshInvalid or errRefreshReused (the login was
// revoked), a verification failure, or a storage error.
func (is *issuer) refresh(r *http.Request, raw string) (issuedToken, string, error) {
	t, err := is.verifyRefresh(raw)
	if err != nil {
		return issuedToken{}, "", err
	}
	// A password login refreshes while its user exists and is enabled; a
	// federated one (sub "<name>:...") while its provider is configured,
	// its family says it signed in there, and the claims kept from sign-in
	// pass the provider's allow rules of the day. A users-file name that
	// reads as a federated sub never had a family marked so.
	var acctClaims map[string]any
	prov := is.providerOf(t.sub)
	if prov == nil {
		acct, known := is.users.current.Load().accounts[t.sub]
		if !known || acct.disabled {
			_ = is.endLogin(r.Context(), t.sid)
			return issuedToken{}, t.sub, errRefreshInvalid
		}
		acctClaims = acct.claims
	}
	fam, err := is.spend(r.Context(), t.sid, t.jti)
	if errors.Is(err, errRefreshReused) {
		is.logger.Warn("refresh token reused; login revoked", zap.String("user", t.sub), zap.String("client_ip", clientIP(r)))
		if err := is.endLogin(r.Context(), t.sid); err != nil {
			return issuedToken{}, t.sub, fmt.Errorf("%w: revoking the login: %w", errUnavailable, err)
		}
		return issuedToken{}, t.sub, errRefreshReused
	}
	if errors.Is(err, errRefreshInvalid) {
		return issuedToken{}, t.sub, err
	}
	if err != nil {
		return issuedToken{}, t.sub, fmt.Errorf("%w: %w", errUnavailable, err)
	}
	if prov == nil && fam.Fed != nil || prov != nil && (fam.Fed == nil || fam.Fed.Provider != prov.Name || !prov.allows(fam.Fed.Claims)) {
		if err := is.endLogin(r.Context(), t.sid); err != nil {
			return issuedToken{}, t.sub, fmt.Errorf("%w: ending the login: %w", errUnavailable, err)
		}
		return issuedToken{}, t.sub, errRefreshInvalid
	}
	claims := acctClaims
	if len(fam.Claims) > 0 {
		claims = maps.Clone(acctClaims)
		if claims == nil {
			claims = map[string]any{}
		}
		maps.Copy(claims, fam.Claims)
	}
	tok, err := is.mint(grant{sub: t.sub, sid: t.sid, claims: claims, refreshJTI: fam.Current, end: is.end(fam)})
	switch {
	case errors.Is(err, errSessionOver):
		return tok, t.sub, errRefreshInvalid
	case err != nil:
		return tok, t.sub, fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return tok, t.sub, nil
}

// endLogin revokes every token of a login (its sid) and forgets its
// refresh family. Without the family no refresh token of the login is
// spent again, so the revocation needs to outlive only the login's access
// tokens: the latest was issued before now and is accepted until its exp
// plus the leeway.
func (is *issuer) endLogin(ctx context.Context, sid string) error {
	until := now().Add(is.accessTTL + is.leeway)
	if err := is.revocations.revoke(ctx, sid, until); err != nil {
		return err
	}
	if err := is.storage.Delete(ctx, storageKey(familyDir, sid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// familySweepInterval is how often logins that ran out are deleted.
const familySweepInterval = 10 * time.Minute

// deleteExpiredFamilies deletes the refresh families whose logins have
// run out.
func (is *issuer) deleteExpiredFamilies(ctx context.Context) {
	is.deleteEnded(ctx, familyDir, func(data []byte) bool {
		var fam family
		return json.Unmarshal(data, &fam) == nil && fam.Until < now().Unix()
	})
}

// deleteEnded deletes the entries of a storage folder that ended says
// are over; an entry that cannot be read is left for the next sweep.
func (is *issuer) deleteEnded(ctx context.Context, dir string, ended func(data []byte) bool) {
	keys, err := is.storage.List(ctx, dir, false)
	if err != nil {
		return // none yet, or storage away: next time
	}
	for _, key := range keys {
		if data, err := is.storage.Load(ctx, key); err == nil && ended(data) {
			_ = is.storage.Delete(ctx, key)
		}
	}
}

// serveRefresh trades a refresh token (JSON {"refresh_token"}, form or
// the refresh cookie) for new tokens.
func (is *issuer) serveRefresh(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	if err := is.csrf.Check(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	raw, err := is.readRefreshToken(w, r)
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return err
	}
	if err != nil {
		return is.refuseRefresh(w, r, err)
	}
	tok, _, err := is.refresh(r, raw)
	switch {
	case errors.Is(err, errUnavailable):
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	case err != nil:
		return is.refuseRefresh(w, r, err)
	}
	is.metrics.refreshed("ok")
	is.setCookies(w, tok)
	return writeToken(w, tok)
}

// verifyRefresh checks a refresh token as the guard checks access tokens
// (typ refresh+jwt due), and that it names a login that is not revoked.
func (is *issuer) verifyRefresh(raw string) (verifiedToken, error) {
	t, err := is.checkRefresh(raw)
	if err != nil {
		return verifiedToken{}, err
	}
	if t.sid == "" || t.jti == "" {
		return verifiedToken{}, errRefreshInvalid
	}
	if is.revocations.revoked(t.sid) {
		return verifiedToken{}, errRevoked
	}
	return t, nil
}

// refuseRefresh answers a refresh that failed with 401, clearing the
// refresh cookie so that the browser stops presenting it.
func (is *issuer) refuseRefresh(w http.ResponseWriter, r *http.Request, err error) error {
	if errors.Is(err, errRefreshReused) {
		is.metrics.refreshed("reused")
	} else {
		is.metrics.refreshed("invalid")
	}
	if c := is.logger.Check(zap.DebugLevel, "refresh refused"); c != nil {
		c.Write(zap.String("reason", err.Error()), zap.String("client_ip", clientIP(r)))
	}
	http.SetCookie(w, is.refreshCookie("", -1))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant"})
}

// readRefreshToken takes the refresh token from a JSON or form body, or
// else from the refresh cookie. A body that cannot be read is a Caddy
// HTTP error (400, 413, 415); no token is errMissing.
func (is *issuer) readRefreshToken(w http.ResponseWriter, r *http.Request) (string, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	var tok string
	switch mediaType {
	case "application/json":
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := bodyError(decodeJSON(r.Body, &body)); err != nil {
			return "", err
		}
		tok = body.RefreshToken
	case "application/x-www-form-urlencoded":
		if err := bodyError(r.ParseForm()); err != nil {
			return "", err
		}
		tok = r.PostForm.Get("refresh_token")
	case "":
	default:
		return "", caddyhttp.Error(http.StatusUnsupportedMediaType, fmt.Errorf("content type %q not accepted", mediaType))
	}
	if tok != "" {
		return tok, nil
	}
	tok, err := fromCookie(r, is.cookie.Name+"_refresh")
	if err == nil && tok == "" {
		err = errMissing
	}
	return tok, err
}

// serveLogout revokes the presented access token and its login, and
// clears the cookies: 204, or 303 to the login page for a form post.
func (is *issuer) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	if err := is.csrf.Check(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	if err := is.endPresented(r); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("revoking: %w", err))
	}
	is.clearCookies(w)
	w.Header().Set("Cache-Control", "no-store")
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType == "application/x-www-form-urlencoded" {
		target := is.Login
		if target == "" {
			target = "/"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endPresented ends what a logout presents: the access token (revoked
// until its exp) and its login, and the login of the refresh cookie, so
// that a browser whose access token already expired still logs out.
func (is *issuer) endPresented(r *http.Request) error {
	ended := ""
	if id, ok := is.presented(r); ok {
		if err := is.revokeIdentity(r.Context(), id); err != nil {
			return err
		}
		ended = id.sid
		is.logger.Info("logout", zap.String("user", id.sub), zap.String("client_ip", clientIP(r)))
	}
	if is.Refresh == "" {
		return nil
	}
	raw, err := fromCookie(r, is.cookie.Name+"_refresh")
	if err != nil || raw == "" {
		return nil
	}
	t, err := is.verifyRefresh(raw)
	if err != nil || t.sid == ended {
		return nil
	}
	if err := is.endLogin(r.Context(), t.sid); err != nil {
		return err
	}
	is.logger.Info("logout", zap.String("user", t.sub), zap.String("client_ip", clientIP(r)))
	return nil
}

// revokeIdentity revokes an access token for as long as it could
// otherwise be accepted — its exp plus the leeway — and its login.
func (is *issuer) revokeIdentity(ctx context.Context, id verifiedToken) error {
	until := now().Add(is.accessTTL + is.leeway)
	if id.exp != nil {
		until = id.exp.Add(is.leeway)
	}
	if id.jti != "" {
		if err := is.revocations.revoke(ctx, id.jti, until); err != nil {
			return err
		}
	}
	if id.sid != "" {
		return is.endLogin(ctx, id.sid)
	}
	return nil
}
