package integration

// Faults and load (issue 6): reloads under load, goroutines after reloads,
// a JWKS endpoint down or hanging under load, a read-only storage
// (fault_*_test.go). Each runs the built binary as a process (node_test.go).
// The clock-skew and read-only key auto tests need the package's clock and
// types and stay in the root package (fault_test.go there). This file
// holds what they share: ports, bounds, and a tally of request outcomes.

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

// faultNoHang is the "no hang" bound for a request that must not wait on
// anything slow (an IdP, storage): a correctness bound, not a timing
// benchmark, so it is generous.
const faultNoHang = 5 * time.Second

// faultPort is a port for the fault tests' Caddy sites and admin endpoints:
// 10000+n, moved by CADDYJWT_TEST_PORT_OFFSET like every test port.
func faultPort(n int) int { return 10000 + portOffset + n }

// faultWriteFile writes a file that the test's Caddy reads.
func faultWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// faultTally counts what one kind of request came to.
type faultTally struct {
	sent, ok, wrong, transport int
	slowest                    time.Duration
	samples                    []string // the first few wrong answers
	errs                       []string // the first few transport errors
}

// add sums another tally into c.
func (c *faultTally) add(o faultTally) {
	c.sent += o.sent
	c.ok += o.ok
	c.wrong += o.wrong
	c.transport += o.transport
	c.slowest = max(c.slowest, o.slowest)
	c.samples = faultFirst(c.samples, o.samples...)
	c.errs = faultFirst(c.errs, o.errs...)
}

// note keeps a wrong answer or a transport error as an example.
func (c *faultTally) note(r reply, prefix string) {
	if r.err != nil {
		c.errs = faultFirst(c.errs, prefix+r.String())
	} else {
		c.samples = faultFirst(c.samples, prefix+r.String())
	}
}

// faultFirst appends to list up to five items.
func faultFirst(list []string, more ...string) []string {
	return append(list, more[:min(len(more), max(0, 5-len(list)))]...)
}

// faultRate is a count per request, in percent.
func faultRate(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f %%", 100*float64(n)/float64(of))
}

// faultBinomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func faultBinomialTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return 1
	}
	lgn, _ := math.Lgamma(float64(n + 1))
	sum := 0.0
	for i := k; i <= n; i++ {
		lgi, _ := math.Lgamma(float64(i + 1))
		lgr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgn - lgi - lgr + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return min(sum, 1)
}
