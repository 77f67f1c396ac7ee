package caddyjwt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// maxLoginBody caps login, refresh and logout bodies.
const maxLoginBody = 64 << 10

// credentials are what a login request carries.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	OTP      string `json:"otp"`
	Return   string `json:"-"`
	form     bool
}

// serveLogin is the login endpoint: GET shows the page, POST checks the
// credentials and issues tokens.
func (is *issuer) serveLogin(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		page := loginPage{Return: is.returnTarget(r.URL.Query().Get("return"))}
		if r.Method == http.MethodGet {
			if resumed, err := is.resume(w, r, page.Return, &page); resumed || err != nil {
				return err
			}
		}
		return is.renderLoginPage(w, r, page, http.StatusOK)
	case http.MethodPost:
	default:
		return methodNotAllowed(w, "GET, HEAD, POST")
	}
	if err := is.csrf.Check(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	creds, err := readCredentials(w, r)
	if err != nil {
		return err
	}
	if id := is.pendingCode(r, creds); id != "" {
		return is.serveCodeStep(w, r, id, creds)
	}

	ip := clientIP(r)
	acct, ok, err := is.checkPassword(w, r, ip, creds)
	if err != nil {
		return err
	}
	if ok && is.providerOf(creds.Username) != nil {
		ok = false // a users_file name that would read as a federated login's sub
	}
	if !ok {
		why := "invalid credentials"
		if acct != nil {
			why = codeRefused
		}
		is.logLoginFailure(r, logUserName(creds.Username), why)
		is.metrics.loggedIn("invalid_credentials")
		if creds.form {
			page := loginPage{Return: is.returnTarget(creds.Return), Username: creds.Username, Error: "Wrong user name or password."}
			return is.renderLoginPage(w, r, page, http.StatusUnauthorized)
		}
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_credentials"})
	}

	if acct.totp != "" && creds.OTP == "" {
		return is.askForCode(w, r, creds)
	}

	tok, err := is.startLogin(r, creds.Username, acct.claims, passwordAMR(acct.totp != ""))
	if err != nil {
		return err
	}
	is.logger.Info("login", zap.String("user", creds.Username), zap.String("client_ip", ip))
	is.metrics.loggedIn("ok")
	is.setCookies(w, tok)
	if creds.form {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, is.returnTarget(creds.Return), http.StatusSeeOther)
		return nil
	}
	return writeToken(w, tok)
}

// checkPassword checks the credentials under login_limit and on the
// bounded pool of password checks; ok is false for wrong credentials (one
// hash comparison was made), err a 429 or 503 to answer (none was made).
//
// The attempt is reserved with the address's and the user name's limits
// before the password is checked, so that attempts arriving at once never
// check more passwords than the limits allow: an attempt whose limit is
// used up or promised to attempts under way gets 429. A failed check
// takes the reservation's token; a success, or an attempt refused by the
// pool, gives it back (a right password does not eat the user's budget,
// and an attempt whose password was never checked told nothing). With
// every check slot taken and the short queue full, the answer is 503 with
// Retry-After: 1.
//
// For a user with a second factor, a code sent with the password is
// checked under the same reservation, after a right password: a wrong or
// replayed code is a failure like a wrong password. Without a code, a
// right password is ok, and the caller asks for the code. A right
// password with a refused code answers the account and false.
func (is *issuer) checkPassword(w http.ResponseWriter, r *http.Request, ip string, creds credentials) (*account, bool, error) {
	att, err := is.reserveLogin(w, r, ip, creds.Username)
	if err != nil {
		return nil, false, err
	}
	if !passwordChecks.acquire(r.Context()) {
		att.release()
		w.Header().Set("Retry-After", "1")
		is.logger.Debug("login refused: every password check slot is busy",
			zap.String("user", logUserName(creds.Username)), zap.String("client_ip", ip))
		is.metrics.loggedIn("busy")
		return nil, false, caddyhttp.Error(http.StatusServiceUnavailable, errors.New("password checks busy"))
	}
	acct, ok := is.users.current.Load().check(creds.Username, creds.Password)
	passwordChecks.release()
	if ok && acct.totp != "" && creds.OTP != "" {
		ok, err = is.acceptCode(r.Context(), creds.Username, acct, creds.OTP)
		if err != nil {
			att.release()
			return nil, false, caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
		if !ok {
			att.fail()
			return acct, false, nil
		}
	}
	if !ok {
		att.fail()
		return nil, false, nil
	}
	att.release()
	return acct, true, nil
}

// startLogin issues the first tokens of a new login of sub and records
// its refresh family. claims are the user's own; carried are claims of
// the sign-in itself (such as amr), kept in the family for every
// refreshed token.
func (is *issuer) startLogin(r *http.Request, sub string, claims, carried map[string]any) (issuedToken, error) {
	return is.startLoginOf(r, sub, claims, carried, nil)
}

// startLoginOf is startLogin for a sign-in of a kind: fed marks a
// federated one, nil a password one.
func (is *issuer) startLoginOf(r *http.Request, sub string, claims, carried map[string]any, fed *federatedLogin) (issuedToken, error) {
	sid := rand.Text()
	if len(carried) > 0 {
		claims = maps.Clone(claims)
		if claims == nil {
			claims = map[string]any{}
		}
		maps.Copy(claims, carried)
	}
	g := grant{sub: sub, sid: sid, claims: claims, end: now().Add(is.sessionTTL)}
	var fam family
	if is.refreshTTL > 0 {
		fam = is.newFamily(sub, carried)
		fam.Fed = fed
		g.refreshJTI, g.end = fam.Current, is.end(fam)
	}
	tok, err := is.mint(g)
	if err != nil {
		return tok, caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if g.refreshJTI != "" {
		if err := is.storeFamily(r.Context(), sid, fam); err != nil {
			return tok, caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("storing the login: %w", err))
		}
	}
	return tok, nil
}

// readCredentials reads a JSON or form body of at most 64 KiB: 413 when
// larger, 415 for another content type, 400 when it does not parse.
func readCredentials(w http.ResponseWriter, r *http.Request) (credentials, error) {
	var creds credentials
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	var err error
	switch mediaType {
	case "application/json":
		err = decodeJSON(r.Body, &creds)
	case "application/x-www-form-urlencoded":
		if err = r.ParseForm(); err == nil {
			creds = credentials{
				Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password"),
				OTP: r.PostForm.Get("otp"), Return: r.PostForm.Get("return"), form: true,
			}
		}
	default:
		return creds, caddyhttp.Error(http.StatusUnsupportedMediaType, fmt.Errorf("content type %q not accepted", mediaType))
	}
	return creds, bodyError(err)
}

// decodeJSON reads exactly one JSON value from body: trailing data makes
// the body unparsable, as RFC 8259 says.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return errors.New("trailing data after the JSON body")
	}
	return nil
}

// bodyError maps a body that could not be read to 413 or 400.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
	default:
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err))
	}
}

// safeReturn keeps a return target only when it is a path on this site:
// one leading slash, no "//", no "." or ".." segment (which a browser
// would fold into "//": /.//evil.example) and no backslash in its path
// part (also percent-encoded), no scheme, no control characters. Anything
// else is /.
func safeReturn(s string) string {
	if !isLocalPath(s) {
		return "/"
	}
	if unescaped, err := url.PathUnescape(s); err != nil || !isLocalPath(unescaped) {
		return "/"
	}
	return s
}

func isLocalPath(s string) bool {
	if len(s) == 0 || s[0] != '/' || strings.ContainsRune(s, '\\') || hasControl(s) {
		return false
	}
	path, _, _ := strings.Cut(s, "?")
	path, _, _ = strings.Cut(path, "#")
	if strings.Contains(path, "//") {
		return false
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// limiterUserKey is the per-user login_limit key of a requested name: the
// name itself, or for a name no user may have (checkUserName) a digest of
// it behind a NUL, which no user name holds, so that such a name is
// limited on its own, never as another user, and keeps its key small.
func limiterUserKey(name string) string {
	if checkUserName(name) == nil {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "\x00" + hex.EncodeToString(sum[:])
}

// logUserName is a requested name as logged: as it is, or quoted and cut
// when no user may have it.
func logUserName(name string) string {
	if checkUserName(name) == nil {
		return name
	}
	return quoteUserName(name)
}
