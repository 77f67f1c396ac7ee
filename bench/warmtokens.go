//go:build ignore

// warmtokens sends a warm-up of bench/load.sh MODE=many: one GET per line
// of -warm (0-based indices into -tokens), each carrying that token, in
// the file's order (a few at a time, -c), and fails unless every answer is
// 200.
//
//	go run bench/warmtokens.go -url http://127.0.0.1:8080/ -tokens tokens.txt -warm warm.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "the guarded site")
	tokensFile := flag.String("tokens", "", "tokens, one per line")
	warmFile := flag.String("warm", "", "token indices to send, one per line, in order")
	conns := flag.Int("c", 32, "requests in flight")
	flag.Parse()

	tokens := lines(*tokensFile)
	var order []int
	for _, l := range lines(*warmFile) {
		i, err := strconv.Atoi(l)
		if err != nil || i < 0 || i >= len(tokens) {
			log.Fatalf("%s: %q is no token index", *warmFile, l)
		}
		order = append(order, i)
	}

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns},
	}
	next := make(chan int)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *conns {
		wg.Go(func() {
			for i := range next {
				req, err := http.NewRequest(http.MethodGet, *url, nil)
				if err != nil {
					log.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	for _, i := range order {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		log.Fatalf("%d of %d warm-up requests failed or were not answered 200", n, len(order))
	}
	fmt.Printf("%d tokens in %.1fs (%.0f req/s)\n", len(order), took.Seconds(), float64(len(order))/took.Seconds())
}

// lines reads a file's lines.
func lines(name string) []string {
	f, err := os.Open(name)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	return out
}
