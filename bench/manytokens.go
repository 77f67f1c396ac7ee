//go:build ignore

// manytokens writes the tokens and the request order of bench/load.sh
// MODE=many: N distinct ES256 tokens (one per user, 2 h) signed with a
// PKCS#8 PEM key, one per line, and PICKS token indices (0-based, one per
// line) drawn with Zipf popularity of exponent S, the order in which
// wrk's Lua script sends them.
//
//	go run bench/manytokens.go -key es.pem -n 100000 -picks 1000000 -s 1.1 -tokens tokens.txt -order picks.txt
package main

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	keyFile := flag.String("key", "", "PKCS#8 PEM private key (ES256)")
	n := flag.Int("n", 100000, "distinct tokens")
	picks := flag.Int("picks", 1000000, "request order length")
	s := flag.Float64("s", 1.1, "Zipf exponent (> 1)")
	tokensOut := flag.String("tokens", "tokens.txt", "tokens file")
	orderOut := flag.String("order", "picks.txt", "request order file")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()

	pemBytes, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		log.Fatal("no PEM block in ", *keyFile)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		log.Fatalf("key: %v", err)
	}

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
	now := time.Now()
	write(*tokensOut, func(w *bufio.Writer) {
		for i := range *n {
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
	// Ranks are shuffled onto tokens, so that popularity has nothing to do
	// with a token's place in the file.
	r := rand.New(rand.NewSource(*seed))
	perm := r.Perm(*n)
	zipf := rand.NewZipf(r, *s, 1, uint64(*n-1))
	write(*orderOut, func(w *bufio.Writer) {
		for range *picks {
			w.WriteString(strconv.Itoa(perm[zipf.Uint64()]) + "\n")
		}
	})
}
