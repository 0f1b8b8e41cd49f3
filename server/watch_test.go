package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
)

// startWatched runs a server on cfg (written to a fresh directory) whose
// watcher waits settle, and returns once the watcher has seen a change of
// the file: the server, the file's path and the running file's content.
func startWatched(t *testing.T, cfg string, settle settleTimes) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "verdict.yaml")
	writeFile(t, path, cfg)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.settle = settle
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// The watcher starts with Run: rename the same file into place until
	// a reload shows that it is watching.
	admin := "http://" + s.AdminAddr()
	for try := 0; reloads(t, admin, "success") == 0; try++ {
		if try == 20 {
			t.Fatal("the watcher never reloaded the configuration")
		}
		writeFile(t, path, cfg)
		deadline := time.Now().Add(time.Second)
		for reloads(t, admin, "success") == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s, path
}

var reloadsLine = regexp.MustCompile(`(?m)^verdict_reloads_total\{result="(\w+)"\} (\d+)$`)

// reloads returns the count of reloads with result on the admin listener.
func reloads(t *testing.T, admin, result string) int {
	t.Helper()
	for _, m := range reloadsLine.FindAllStringSubmatch(metricsText(t, admin), -1) {
		if m[1] == result {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

// guardedService is a gateway configuration whose service refuses the
// loopback client with ip_check; version marks which file is running.
func guardedService(backend, version string) (head, chainPart string) {
	head = "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", gateway: \"127.0.0.1:0\"}\n" +
		"services:\n  - id: 1\n    proxy:\n      hosts: [api.test]\n      api_backend: " + backend + "\n"
	chainPart = "      policy_chain:\n" +
		"        - {name: ip_check, configuration: {check_type: blacklist, ips: [127.0.0.1]}}\n" +
		"        - {name: headers, configuration: {response: [{op: set, header: X-Version, value: \"" + version + "\"}]}}\n" +
		"        - {name: apicast}\n"
	return head, chainPart
}

// poller sends requests to a gateway until stopped and keeps every answer.
type poller struct {
	mu   sync.Mutex
	seen []string // "status version"
	stop chan struct{}
	done chan struct{}
}

func startPoller(t *testing.T, url, host string) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", url, nil)
			req.Host = host
			res, err := http.DefaultClient.Do(req)
			got := "error"
			if err == nil {
				res.Body.Close()
				got = fmt.Sprintf("%d %s", res.StatusCode, res.Header.Get("X-Version"))
			}
			p.mu.Lock()
			p.seen = append(p.seen, got)
			p.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *poller) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// waitFor polls until an answer equal to want was seen or the deadline
// passes, and returns every answer.
func (p *poller) waitFor(t *testing.T, want string, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p.mu.Lock()
		seen := append([]string(nil), p.seen...)
		p.mu.Unlock()
		for _, s := range seen {
			if s == want {
				return seen
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s; answers: %s", want, within, summary(seen))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func summary(seen []string) string {
	counts := map[string]int{}
	var order []string
	for _, s := range seen {
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	var b strings.Builder
	for _, s := range order {
		fmt.Fprintf(&b, "[%s]×%d ", s, counts[s])
	}
	return b.String()
}

// TestInPlaceRewriteIsNotLoadedHalfWritten rewrites a protected service's
// file in place in two writes half a second apart, the first ending just
// before policy_chain: that half is a valid file whose service runs
// without ip_check. The watcher must wait for the file to settle and load
// only the whole of it: no request may pass in between.
func TestInPlaceRewriteIsNotLoadedHalfWritten(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	head, chain := guardedService(up.URL, "1")
	// A settle time well above the half second between the writes, so
	// that a slow machine cannot make the test pass or fail by chance.
	s, path := startWatched(t, head+chain, settleTimes{write: 4 * time.Second})
	p := startPoller(t, "http://"+s.GatewayAddr()+"/secret", "api.test")
	p.waitFor(t, "403 1", 5*time.Second)

	head, chain = guardedService(up.URL, "2")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(head); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := f.WriteString(chain); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seen := p.waitFor(t, "403 2", 15*time.Second)
	p.halt()
	for _, s := range seen {
		if !strings.HasPrefix(s, "403 ") {
			t.Fatalf("a request was not refused while the file was being written: %s", summary(seen))
		}
	}
}

// TestEmptyConfigIsNotLoaded replaces the configuration with an empty file
// (and with one of only blanks and comments): the watcher and POST
// /v1/reload refuse it and the running configuration keeps serving.
func TestEmptyConfigIsNotLoaded(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"blanks and comments", "\n   \n# nothing yet\n\t\n"},
		{"null", "null\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := startWatched(t, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", gateway: \"127.0.0.1:0\"}\n"+
				"services:\n  - id: 1\n    proxy: {hosts: [api.test], policy_chain: [{name: echo, configuration: {status: 202}}]}\n", settleTimes{})
			gw := "http://" + s.GatewayAddr() + "/x"
			admin := "http://" + s.AdminAddr()
			writeFile(t, path, tc.data)
			// The watcher tries the file and refuses it.
			deadline := time.Now().Add(10 * time.Second)
			for reloads(t, admin, "failure") == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the watcher did not refuse the file: %s", grepLines(metricsText(t, admin), "verdict_reloads_total"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if code, _, _ := get(t, gw, "api.test"); code != 202 {
				t.Errorf("after the file change: %d, want the running 202", code)
			}
			req, _ := http.NewRequest("POST", admin+"/v1/reload", nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, res)
			if res.StatusCode != 422 || !strings.Contains(body, "holds no configuration") {
				t.Errorf("POST /v1/reload: %d %s, want 422 saying the file is empty", res.StatusCode, body)
			}
			if code, _, _ := get(t, gw, "api.test"); code != 202 {
				t.Errorf("after POST /v1/reload: %d, want the running 202", code)
			}
		})
	}
}

func metricsText(t *testing.T, admin string) string {
	_, body, _ := get(t, admin+"/metrics", "")
	return body
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
