package caddyjwt

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's counters in Caddy's Prometheus registry. The
// hot path only increments pre-labelled counters.
type metrics struct {
	validations map[string]prometheus.Counter // by result
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	jwksFetches *prometheus.CounterVec
}

// validationResults are the results of a guarded request, as counted.
var validationResults = []string{"ok", "missing", "invalid", "expired", "revoked", "forbidden"}

// newMetrics registers the counters, or takes those already registered by
// another jwt_auth handler of the same config. A nil registry (unit
// tests) gives counters that count nowhere.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	vec := func(name, help string) (*prometheus.CounterVec, error) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy", Subsystem: "jwt_auth", Name: name, Help: help,
		}, []string{"result"})
		if reg == nil {
			return c, nil
		}
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, err
			}
			c = already.ExistingCollector.(*prometheus.CounterVec)
		}
		return c, nil
	}
	m := &metrics{validations: make(map[string]prometheus.Counter)}
	validations, err := vec("validations_total", "Guarded requests by result: ok, missing, invalid, expired, revoked, forbidden.")
	if err != nil {
		return nil, err
	}
	for _, result := range validationResults {
		m.validations[result] = validations.WithLabelValues(result)
	}
	if m.logins, err = vec("logins_total", "Logins by result: ok, invalid_credentials, otp_required (a right password, the code to come), rate_limited, busy (every password check slot taken), forbidden (an identity_provider's allow rules refused the person), federated_refused (a sign-in with an identity_provider failed)."); err != nil {
		return nil, err
	}
	if m.refreshes, err = vec("refreshes_total", "Refreshes by result: ok, invalid, reused."); err != nil {
		return nil, err
	}
	if m.jwksFetches, err = vec("jwks_fetches_total", "Fetches of remote key sets by result: ok, error."); err != nil {
		return nil, err
	}
	return m, nil
}

// validated counts a guarded request by the reason it passed or failed.
func (m *metrics) validated(reason string) {
	switch reason {
	case "ok", "missing", "expired", "revoked", "forbidden":
	default:
		reason = "invalid"
	}
	m.validations[reason].Inc()
}

func (m *metrics) loggedIn(result string)  { m.logins.WithLabelValues(result).Inc() }
func (m *metrics) refreshed(result string) { m.refreshes.WithLabelValues(result).Inc() }
func (m *metrics) jwksFetched(result string) {
	m.jwksFetches.WithLabelValues(result).Inc()
}
