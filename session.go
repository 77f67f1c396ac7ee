package caddyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// family is a login's refresh state in storage: the one refresh token that
// may be spent next, and until when the login can last.
type family struct {
	Sub     string `json:"sub"`
	Current string `json:"current"`
	Until   int64  `json:"until"`
}

var (
	errRefreshInvalid = errors.New("refresh token invalid")
	errRefreshReused  = errors.New("refresh token reused: login revoked")
)

func (is *issuer) storeFamily(ctx context.Context, sid string, fam family) error {
	data, _ := json.Marshal(fam)
	return is.storage.Store(ctx, storageKey(familyDir, sid), data)
}

// spend rotates a login's refresh token under a storage lock, so that one
// refresh token is spent once across every instance. Presenting a spent
// token revokes the whole login.
func (is *issuer) spend(ctx context.Context, sid, jti, next string) (family, error) {
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
	if err := json.Unmarshal(data, &fam); err != nil {
		return family{}, fmt.Errorf("reading the login: %w", err)
	}
	if fam.Current != jti {
		return fam, errRefreshReused
	}
	fam.Current = next
	fam.Until = now().Add(is.refreshTTL).Unix()
	return fam, is.storeFamily(ctx, sid, fam)
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
	keys, err := is.storage.List(ctx, familyDir, false)
	if err != nil {
		return // none yet, or storage away: next time
	}
	for _, key := range keys {
		data, err := is.storage.Load(ctx, key)
		var fam family
		if err == nil && json.Unmarshal(data, &fam) == nil && fam.Until < now().Unix() {
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
	t, err := is.verifyRefresh(raw)
	if err != nil {
		return is.refuseRefresh(w, r, err)
	}
	sid, jti, sub := t.sid, t.jti, t.sub
	acct, known := is.users.current.Load().accounts[sub]
	if !known || acct.disabled {
		_ = is.endLogin(r.Context(), sid)
		return is.refuseRefresh(w, r, errRefreshInvalid)
	}

	tok, nextJTI, err := is.mint(r, sub, sid, acct.claims)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if _, err := is.spend(r.Context(), sid, jti, nextJTI); err != nil {
		if errors.Is(err, errRefreshReused) {
			is.logger.Warn("refresh token reused; login revoked", zap.String("user", sub), zap.String("client_ip", clientIP(r)))
			if err := is.endLogin(r.Context(), sid); err != nil {
				return caddyhttp.Error(http.StatusServiceUnavailable, err)
			}
		}
		if errors.Is(err, errRefreshReused) || errors.Is(err, errRefreshInvalid) {
			return is.refuseRefresh(w, r, err)
		}
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
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
	if id, ok := is.presented(r); ok {
		if err := is.revokeIdentity(r.Context(), id); err != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("revoking: %w", err))
		}
		is.logger.Info("logout", zap.String("user", id.sub), zap.String("client_ip", clientIP(r)))
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
