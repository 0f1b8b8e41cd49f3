package h2_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
	"github.com/verdict-policy/verdict/internal/h1"
	"github.com/verdict-policy/verdict/internal/h2"
)

// The benchmarks serve one small answer over a kept-alive TLS connection
// from a client that parses as little as it can, so that what -benchmem
// reports is mostly the server's work (TLS records included).

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "hello")
})

func benchTLS(b *testing.B) (*tls.Config, *tls.Config) {
	ca := certstest.NewCA(b, "bench CA")
	leaf := ca.Issue(b, certstest.Options{DNSNames: []string{"bench.test"}})
	set, err := certs.New(certs.Config{
		Certificates: []certs.Certificate{{Certificate: string(leaf.CertPEM), CertificateKey: string(leaf.KeyPEM)}},
		NextProtos:   h2.Protos,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return set.TLSConfig(), &tls.Config{RootCAs: ca.Pool(), ServerName: "bench.test"}
}

func benchServer(b *testing.B, kind string, serverTLS *tls.Config) string {
	srv := &h1.Server{Handler: hello}
	ln := listen(b)
	switch kind {
	case "h1":
		h2.Attach(srv, h2.Settings{}, nil)
		go func() { _ = srv.Serve(tls.NewListener(ln, serverTLS)) }()
		b.Cleanup(func() { _ = srv.Close() })
	case "std":
		std := h2.NewStd(srv, h2.Settings{}, serverTLS, nil)
		go func() { _ = std.Serve(ln) }()
		b.Cleanup(func() { _ = std.Close() })
	}
	return ln.Addr().String()
}

// BenchmarkKeepAliveTLS: HTTP/1.1 requests one after another on one TLS
// connection.
func BenchmarkKeepAliveTLS(b *testing.B) {
	serverTLS, clientTLS := benchTLS(b)
	for _, kind := range []string{"h1", "std"} {
		b.Run(kind, func(b *testing.B) {
			addr := benchServer(b, kind, serverTLS)
			cfg := clientTLS.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			conn, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			req := []byte("GET /bench?x=1 HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			if _, err := conn.Write(req); err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			if body, err := io.ReadAll(res.Body); err != nil || string(body) != "hello" {
				b.Fatalf("body %q, %v", body, err)
			}
			// The Date header keeps its length: every answer is as long.
			size := len(responseBytes(res)) + len("hello")
			buf := make([]byte, size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, buf); err != nil {
					b.Fatal(err)
				}
				if !bytes.HasSuffix(buf, []byte("\r\n\r\nhello")) {
					b.Fatalf("response %q", buf)
				}
			}
		})
	}
}

// responseBytes returns the head of res as the server wrote it.
func responseBytes(res *http.Response) []byte {
	var head bytes.Buffer
	head.WriteString(res.Proto + " " + res.Status + "\r\n")
	_ = res.Header.Write(&head)
	head.WriteString("\r\n")
	return head.Bytes()
}

// BenchmarkHTTP2: requests one after another on one HTTP/2 connection,
// each on a new stream.
func BenchmarkHTTP2(b *testing.B) {
	serverTLS, clientTLS := benchTLS(b)
	for _, kind := range []string{"h1", "std"} {
		b.Run(kind, func(b *testing.B) {
			addr := benchServer(b, kind, serverTLS)
			cfg := clientTLS.Clone()
			cfg.NextProtos = []string{"h2"}
			conn, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			bw := bufio.NewWriter(conn)
			_, _ = bw.WriteString(http2.ClientPreface)
			fr := http2.NewFramer(bw, bufio.NewReader(conn))
			fr.SetReuseFrames()
			_ = fr.WriteSettings()
			// A large connection window, so that the client has to say
			// little while the benchmark runs.
			_ = fr.WriteWindowUpdate(0, 1<<30)
			_ = bw.Flush()
			var block bytes.Buffer
			enc := hpack.NewEncoder(&block)
			for _, f := range []hpack.HeaderField{
				{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
				{Name: ":authority", Value: "bench.test"}, {Name: ":path", Value: "/bench?x=1"},
				{Name: "user-agent", Value: "bench"}, {Name: "accept", Value: "*/*"},
			} {
				_ = enc.WriteField(f)
			}
			headers := block.Bytes()
			stream := uint32(1)
			round := func() {
				if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: headers,
					EndStream: true, EndHeaders: true}); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil {
					b.Fatal(err)
				}
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						b.Fatal(err)
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							_ = fr.WriteSettingsAck()
						}
					case *http2.PingFrame:
						if !f.IsAck() {
							_ = fr.WritePing(true, f.Data)
						}
					case *http2.GoAwayFrame:
						b.Fatalf("GOAWAY %v", f.ErrCode)
					case *http2.RSTStreamFrame:
						b.Fatalf("RST_STREAM %v", f.ErrCode)
					case *http2.DataFrame:
						if f.StreamID == stream && f.StreamEnded() {
							if len(f.Data()) > 0 && string(f.Data()) != "hello" {
								b.Fatalf("data %q", f.Data())
							}
							stream += 2
							return
						}
					}
				}
			}
			round()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				round()
			}
		})
	}
}
