//go:build ignore

// manytokens writes the tokens and the request order of bench/load.sh
// MODE=many: N distinct ES256 tokens (one per user, 2 h) signed with a
// PKCS#8 PEM key, one per line, and token indices (0-based, one per line)
// drawn with Zipf popularity of exponent S.
//
// The draws are one stream. The first HISTORY of them stand for the
// traffic the site served before the measurement: they are not sent as
// they are; -warm gets each token they used, once, in the order of its
// last use — replayed into an empty cache, exactly the tokens an LRU
// cache would hold after that history, in its order. The next PICKS
// draws, -order, are what wrk's Lua script sends, continuing the stream.
// With HISTORY 0 the order is the one earlier versions wrote.
//
//	go run bench/manytokens.go -key es.pem -n 100000 -history 2000000 -picks 2000000 -s 1.1 \
//		-tokens tokens.txt -warm warm.txt -order picks.txt
//
// Without -key no tokens are written, only the order files (the cache
// benchmark replays them: BenchmarkCacheManyTokens).
package main

import (
	"bufio"
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	keyFile := flag.String("key", "", "PKCS#8 PEM private key (ES256); none: no tokens written")
	n := flag.Int("n", 100000, "distinct tokens")
	history := flag.Int("history", 0, "draws before the request order, summed up in -warm")
	picks := flag.Int("picks", 1000000, "request order length")
	s := flag.Float64("s", 1.1, "Zipf exponent (> 1)")
	tokensOut := flag.String("tokens", "tokens.txt", "tokens file")
	warmOut := flag.String("warm", "", "warm-up file: the history's tokens in the order of their last use")
	orderOut := flag.String("order", "picks.txt", "request order file")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()

	write := func(name string, lines func(w *bufio.Writer)) {
		f, err := os.Create(name)
		if err != nil {
			log.Fatal(err)
		}
		w := bufio.NewWriter(f)
		lines(w)
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	if *keyFile != "" {
		writeTokens(*keyFile, *n, *tokensOut, write)
	}
	// Ranks are shuffled onto tokens, so that popularity has nothing to do
	// with a token's place in the file.
	r := rand.New(rand.NewSource(*seed))
	perm := r.Perm(*n)
	zipf := rand.NewZipf(r, *s, 1, uint64(*n-1))
	draw := func() int { return perm[zipf.Uint64()] }

	lastUse := make(map[int]int)
	for i := range *history {
		lastUse[draw()] = i
	}
	if *warmOut != "" {
		used := make([]int, 0, len(lastUse))
		for tok := range lastUse {
			used = append(used, tok)
		}
		slices.SortFunc(used, func(a, b int) int { return cmp.Compare(lastUse[a], lastUse[b]) })
		write(*warmOut, func(w *bufio.Writer) {
			for _, tok := range used {
				w.WriteString(strconv.Itoa(tok) + "\n")
			}
		})
	}
	write(*orderOut, func(w *bufio.Writer) {
		for range *picks {
			w.WriteString(strconv.Itoa(draw()) + "\n")
		}
	})
}

// writeTokens signs n tokens, one per line.
func writeTokens(keyFile string, n int, out string, write func(string, func(*bufio.Writer))) {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		log.Fatal("no PEM block in ", keyFile)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatalf("key: %v", err)
	}
	now := time.Now()
	write(out, func(w *bufio.Writer) {
		for i := range n {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
				"sub": "user" + strconv.Itoa(i), "jti": fmt.Sprintf("many-%d", i),
				"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
			}).SignedString(priv)
			if err != nil {
				log.Fatal(err)
			}
			w.WriteString(tok + "\n")
		}
	})
}
