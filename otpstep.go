package caddyjwt

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// The form login's second step. A right password of a user with a second
// factor starts a pending sign-in: a random id in an HttpOnly cookie that
// reaches only the login path, and in Caddy's storage (so that any
// instance of the cluster can finish it) the user, where to return and
// when it ends — never the password. Posting a code spends the pending
// sign-in; a wrong code starts another one that ends when the first
// would have, so a sign-in never lasts longer than pendingTTL after its
// password.

const (
	pendingTTL    = 5 * time.Minute
	otpPendingDir = "caddyjwt/otp/pending"
)

// errNoPending is a pending sign-in that is unknown, spent, ended or of
// another issuer.
var errNoPending = errors.New("no pending sign-in")

// pendingSignIn is what storage holds of a sign-in waiting for its code.
type pendingSignIn struct {
	Issuer string `json:"iss"`
	Sub    string `json:"sub"`
	Return string `json:"return"`
	Until  int64  `json:"until_ms"` // Unix milliseconds
}

func (is *issuer) pendingCookieName() string { return is.cookie.Name + "_otp" }

// pendingCookie is the id of a pending sign-in: host-only, reaching only
// the login path, sent only by the site's own pages.
func (is *issuer) pendingCookie(id string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: is.pendingCookieName(), Value: id, Path: is.Login, MaxAge: maxAge,
		HttpOnly: true, Secure: !is.cookie.Insecure, SameSite: http.SameSiteStrictMode,
	}
}

// pendingCode is the pending sign-in id of a form posting a code alone
// (no user name, no password); "" for any other login.
func (is *issuer) pendingCode(r *http.Request, creds credentials) string {
	if !creds.form || creds.Username != "" || creds.Password != "" {
		return ""
	}
	c, err := r.Cookie(is.pendingCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// askForCode answers a right password of a user with a second factor
// that came without a code: JSON 401 otp_required, or for a form the
// code page, with a pending sign-in in its cookie.
func (is *issuer) askForCode(w http.ResponseWriter, r *http.Request, creds credentials) error {
	is.metrics.loggedIn("otp_required")
	w.Header().Set("Cache-Control", "no-store")
	if !creds.form {
		return writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "otp_required"})
	}
	p := pendingSignIn{Issuer: is.name, Sub: creds.Username, Return: is.returnTarget(creds.Return), Until: now().Add(pendingTTL).UnixMilli()}
	if err := is.startPending(w, r.Context(), p); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	return is.renderCodePage(w, r, loginPage{Return: p.Return}, http.StatusOK)
}

// serveCodeStep finishes a pending sign-in with the code posted, under
// login_limit like a password: right, the login starts and the browser
// goes to the pending return target; wrong, the code page again (401);
// unknown or ended, the login page (401).
func (is *issuer) serveCodeStep(w http.ResponseWriter, r *http.Request, id string, creds credentials) error {
	w.Header().Set("Cache-Control", "no-store")
	p, err := is.takePending(r.Context(), id)
	if errors.Is(err, errNoPending) {
		http.SetCookie(w, is.pendingCookie("", -1))
		is.logLoginFailure(r, "", "sign-in to finish with a code unknown or ended")
		is.metrics.loggedIn("invalid_credentials")
		page := loginPage{Return: "/", Error: "The sign-in took too long. Sign in again."}
		return is.renderLoginPage(w, r, page, http.StatusUnauthorized)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	att, err := is.reserveLogin(w, r, clientIP(r), p.Sub)
	if err != nil {
		http.SetCookie(w, is.pendingCookie("", -1))
		return err
	}
	acct := is.users.current.Load().accounts[p.Sub]
	ok := false
	if acct != nil && !acct.disabled && acct.totp != "" {
		if ok, err = is.acceptCode(r.Context(), p.Sub, acct, creds.OTP); err != nil {
			att.release()
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
	}
	if !ok {
		att.fail()
		is.logLoginFailure(r, logUserName(p.Sub), codeRefused)
		is.metrics.loggedIn("invalid_credentials")
		if err := is.startPending(w, r.Context(), p); err != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
		return is.renderCodePage(w, r, loginPage{Return: p.Return, Error: "Wrong code. Try the code your app shows now."}, http.StatusUnauthorized)
	}
	att.release()
	http.SetCookie(w, is.pendingCookie("", -1))
	tok, err := is.startLogin(r, p.Sub, acct.claims, passwordAMR(true))
	if err != nil {
		return err
	}
	is.logger.Info("login", zap.String("user", p.Sub), zap.String("client_ip", clientIP(r)))
	is.metrics.loggedIn("ok")
	is.setCookies(w, tok)
	http.Redirect(w, r, p.Return, http.StatusSeeOther)
	return nil
}

// startPending stores a pending sign-in under a new id and sets its
// cookie, for the time it has left; one that ended clears the cookie.
func (is *issuer) startPending(w http.ResponseWriter, ctx context.Context, p pendingSignIn) error {
	left := time.UnixMilli(p.Until).Sub(now())
	if left <= 0 {
		http.SetCookie(w, is.pendingCookie("", -1)) // the next post shows the login page
		return nil
	}
	if is.storage == nil {
		return errors.New("the second step of a login needs Caddy's storage")
	}
	id := rand.Text()
	data, _ := json.Marshal(p)
	if err := is.storage.Store(ctx, pendingKey(id), data); err != nil {
		return fmt.Errorf("storing the pending sign-in: %w", err)
	}
	http.SetCookie(w, is.pendingCookie(id, int(left.Seconds())+1))
	return nil
}

// takePending spends a pending sign-in, under a storage lock so that two
// instances never both spend it: errNoPending when it is unknown, spent,
// ended, or another issuer's.
func (is *issuer) takePending(ctx context.Context, id string) (pendingSignIn, error) {
	if is.storage == nil || id == "" || len(id) > 64 {
		return pendingSignIn{}, errNoPending
	}
	key := pendingKey(id)
	lock := "caddyjwt_otp_pending_" + path.Base(key)
	if err := is.storage.Lock(ctx, lock); err != nil {
		return pendingSignIn{}, fmt.Errorf("locking the pending sign-in: %w", err)
	}
	defer func() { _ = is.storage.Unlock(context.WithoutCancel(ctx), lock) }()
	data, err := is.storage.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return pendingSignIn{}, errNoPending
	}
	if err != nil {
		return pendingSignIn{}, fmt.Errorf("reading the pending sign-in: %w", err)
	}
	if err := is.storage.Delete(ctx, key); err != nil {
		return pendingSignIn{}, fmt.Errorf("spending the pending sign-in: %w", err)
	}
	var p pendingSignIn
	if json.Unmarshal(data, &p) != nil || p.Issuer != is.name || p.Sub == "" || now().UnixMilli() >= p.Until {
		return pendingSignIn{}, errNoPending
	}
	return p, nil
}

// pendingKey is where a pending sign-in is stored: named by a digest of
// its id, so that a listing of the storage shows no cookie value.
func pendingKey(id string) string {
	return path.Join(otpPendingDir, hashKey(id))
}

// deletePendingSignIns deletes the pending sign-ins that ended unused.
func (is *issuer) deletePendingSignIns(ctx context.Context) {
	is.deleteEnded(ctx, otpPendingDir, func(data []byte) bool {
		var p pendingSignIn
		return json.Unmarshal(data, &p) == nil && p.Until < now().UnixMilli()
	})
}

// codeRefused is the reason logged for a wrong, replayed or late code:
// it came after a right password, which may be known to someone else.
const codeRefused = "one-time code refused after a right password"
