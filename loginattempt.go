package caddyjwt

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// loginAttempt is an attempt reserved with login_limit, by client address
// and by user name: it ends with fail (a wrong password or code takes a
// token of each) or release (the tokens are given back).
type loginAttempt struct {
	byIP, byUser *attempt
}

func (a loginAttempt) fail() {
	a.byIP.fail()
	a.byUser.fail()
}

func (a loginAttempt) release() {
	a.byIP.release()
	a.byUser.release()
}

// reserveLogin reserves an attempt of name from ip before anything is
// checked, so that attempts arriving at once never check more than the
// limits allow. Over either limit: a 429 error with Retry-After, logged
// and counted.
func (is *issuer) reserveLogin(w http.ResponseWriter, r *http.Request, ip, name string) (loginAttempt, error) {
	userKey := limiterUserKey(name)
	byIP, wait := is.byIP.reserve(ip)
	var byUser *attempt
	if byIP != nil {
		if byUser, wait = is.byUser.reserve(userKey); byUser == nil {
			byIP.release()
		}
	} else {
		wait = max(wait, is.byUser.wait(userKey))
	}
	if byUser == nil {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		is.logLoginFailure(r, logUserName(name), "rate limited")
		is.metrics.loggedIn("rate_limited")
		return loginAttempt{}, caddyhttp.Error(http.StatusTooManyRequests, errors.New("too many failed logins"))
	}
	return loginAttempt{byIP: byIP, byUser: byUser}, nil
}
