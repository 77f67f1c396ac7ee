package caddyjwt

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// discardStorage stores nothing: what the revocation list itself costs,
// without a storage's.
type discardStorage struct{ certmagic.Storage }

func (discardStorage) Store(context.Context, string, []byte) error { return nil }

// fillRevocations adds n live revocations straight into memory.
func fillRevocations(rl *revocationList, n int) {
	until := time.Now().Add(time.Hour).Unix()
	for i := range n {
		rl.add(revocationKeyOf("filled-"+strconv.Itoa(i)), until)
	}
}

// BenchmarkLogout measures a revocation (what a logout adds to the list:
// one map write under one shard's lock, and one storage write, here
// discarded) with 10 and with 1,000,000 live revocations. Each run revokes
// the same 65,536 new ids in turn, so both grow their maps alike. p99-ns
// is the 99th percentile of the per-call latencies (the first 1M calls).
func BenchmarkLogout(b *testing.B) {
	for _, live := range []int{10, 1_000_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			rl := newRevocationList(discardStorage{}, zap.NewNop())
			fillRevocations(rl, live)
			ctx := context.Background()
			until := time.Now().Add(time.Hour)
			ids := make([]string, 1<<16)
			for i := range ids {
				ids[i] = "logout-" + strconv.Itoa(i)
			}
			lat := make([]time.Duration, 0, 1<<20)
			runtime.GC() // the filling's garbage is not the logouts' cost
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if err := rl.revoke(ctx, ids[i%len(ids)], until); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
		})
	}
}

// BenchmarkRevocationMemory reports the heap a live revocation costs in
// memory (target: at most 150 B), from the heap before and after adding
// 1,000,000 of them.
func BenchmarkRevocationMemory(b *testing.B) {
	const n = 1_000_000
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rl := newRevocationList(discardStorage{}, zap.NewNop())
		fillRevocations(rl, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(rl)
	}
	b.ReportMetric(perEntry, "B/revocation")
}

// writeRevocationFiles writes n live revocations as entries of a
// FileStorage folder, spread over folders old minutes, directly as files
// (Store would take minutes for a million).
func writeRevocationFiles(tb testing.TB, root string, n, folders int) {
	tb.Helper()
	minute := time.Now().Unix()/60 - 30
	until := strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	for f := range folders {
		dir := filepath.Join(root, filepath.FromSlash(revokedDir), strconv.FormatInt(minute+int64(f), 10))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			tb.Fatal(err)
		}
		for i := f; i < n; i += folders {
			k := revocationKeyOf("file-" + strconv.Itoa(i))
			file, err := os.Create(filepath.Join(dir, hex.EncodeToString(k[:])+"."+until))
			if err != nil {
				tb.Fatal(err)
			}
			file.Close()
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSyncNothingNew measures a sync that finds nothing new with
// 1,000,000 live revocations in storage (FileStorage, in 4 old minute
// folders): it lists the minute folders and reads none of them (target:
// at most 1 ms of CPU). cpu-ns/op is the process's CPU time per sync.
// (Listings per sync are counted by TestRevocationSyncReadsOnlyWhatChanged
// and TestTwentySitesOneSync.)
// Setting up writes a million files (about a minute, and 1M inodes).
func BenchmarkSyncNothingNew(b *testing.B) {
	const n = 1_000_000
	root := b.TempDir()
	writeRevocationFiles(b, root, n, 4)
	storage := &certmagic.FileStorage{Path: root}
	rl := newRevocationList(storage, zap.NewNop())
	ctx := context.Background()
	if err := rl.sync(ctx); err != nil {
		b.Fatal(err)
	}
	if !rl.revoked("file-999999") {
		b.Fatal("the first sync did not read the entries")
	}
	var syncs int64
	cpu := cpuTime()
	for b.Loop() {
		if err := rl.sync(ctx); err != nil {
			b.Fatal(err)
		}
		syncs++
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(syncs), "cpu-ns/op")
}
