package caddyjwt

import (
	"fmt"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	fl := newFailureLimiter(3, time.Minute)
	for i := 0; i < 3; i++ {
		if w := fl.wait("1.2.3.4"); w != 0 {
			t.Fatalf("attempt %d must wait %v", i+1, w)
		}
		fl.fail("1.2.3.4")
	}
	w := fl.wait("1.2.3.4")
	if w <= 0 || w > 20*time.Second {
		t.Errorf("after 3 failures the wait is %v, want about 20s", w)
	}
	if retryAfter(w) < 1 || retryAfter(500*time.Millisecond) != 1 {
		t.Errorf("Retry-After %d", retryAfter(w))
	}
	if fl.wait("5.6.7.8") != 0 {
		t.Error("another key is limited too")
	}
}

func TestFailureLimiterIsBounded(t *testing.T) {
	fl := newFailureLimiter(1, time.Hour)
	for i := 0; i < maxLimiters+500; i++ {
		fl.fail(fmt.Sprint("10.0.", i/256, ".", i%256))
	}
	if len(fl.buckets) > maxLimiters {
		t.Errorf("%d limiters kept, at most %d", len(fl.buckets), maxLimiters)
	}
	// Every bucket is busy, so a new address shares the overflow, which
	// the spray has exhausted.
	if fl.wait("192.0.2.99") == 0 {
		t.Error("a sprayed address past the bound is not limited")
	}
}

// TestFailureLimiterReserve: attempts under way hold their tokens, so no
// more start than the key has; a failure spends its token, a release
// gives it back.
func TestFailureLimiterReserve(t *testing.T) {
	fl := newFailureLimiter(3, time.Minute)
	var held []*attempt
	for i := range 3 {
		a, w := fl.reserve("alice")
		if a == nil || w != 0 {
			t.Fatalf("reservation %d refused (wait %v)", i+1, w)
		}
		held = append(held, a)
	}
	if a, w := fl.reserve("alice"); a != nil || w <= 0 {
		t.Fatalf("a 4th attempt under way: %v, wait %v", a, w)
	}
	if fl.wait("alice") <= 0 {
		t.Error("wait does not count the attempts under way")
	}
	held[0].release()
	held[0].release() // ending twice changes nothing
	if a, _ := fl.reserve("alice"); a == nil {
		t.Fatal("a released reservation was not given back")
	} else {
		held[0] = a
	}
	for _, a := range held {
		a.fail()
	}
	if a, w := fl.reserve("alice"); a != nil || w <= 10*time.Second || w > 20*time.Second {
		t.Errorf("after 3 failures: %v, wait %v, want about 20s", a, w)
	}
	if a, _ := fl.reserve("bob"); a == nil {
		t.Error("another key is limited too")
	}
}
