// Command benchupstream is the upstream of the gateway's load runs: a
// plain net/http server answering every request with 200 and a fixed JSON
// body of about 100 bytes, the baseline the gateway is measured against.
// With -reverse-proxy URL it is instead a minimal httputil.ReverseProxy to
// that URL, the second baseline of a run.
package main

import (
	"flag"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"time"
)

const body = `{"id": 42, "name": "benchmark item", "tags": ["a", "b", "c"], "price": 9.99, "in_stock": true}` + "\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "the `address` to listen on")
	proxyTo := flag.String("reverse-proxy", "", "proxy to this `URL` instead of answering")
	flag.Parse()
	length := strconv.Itoa(len(body))
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write([]byte(body))
	})
	if *proxyTo != "" {
		target, err := url.Parse(*proxyTo)
		if err != nil {
			slog.Error("bad -reverse-proxy", "error", err.Error())
			os.Exit(2)
		}
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024}
		handler = rp
	}
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler:           handler,
	}
	if err := srv.ListenAndServe(); err != nil {
		slog.Error("benchupstream stopped", "error", err.Error())
		os.Exit(1)
	}
}
