package authz_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/server"
)

// exampleSecret is the HS256 secret of the built-in configuration.
const exampleSecret = "verdict-example-hs256-secret"

func token(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(claims)
	in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(exampleSecret))
	mac.Write([]byte(in))
	return in + "." + enc.EncodeToString(mac.Sum(nil))
}

// startVerdict runs a whole Verdict server on loopback ports with the
// example authz rules and secret, and returns its policy and gRPC
// addresses.
func startVerdict(t *testing.T) (policy, grpcAddr string) {
	v := startVerdictServer(t)
	return v.policy, v.grpc
}

type verdictServer struct{ policy, grpc, admin, file string }

func startVerdictServer(t *testing.T) verdictServer {
	t.Helper()
	examples, err := filepath.Abs("../examples/authz")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "verdict.yaml")
	conf := fmt.Sprintf(`listen: {policy: "127.0.0.1:0", admin: "127.0.0.1:0", grpc: "127.0.0.1:0"}
policies:
  authz: %s
  authzen: %s
authz:
  policy: authz
  authzen: {policy: authzen}
  jwt: {hs256_secret: %q}
`, filepath.Join(examples, "proxy.yaml"), filepath.Join(examples, "authzen.yaml"), exampleSecret)
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("verdict: %v", err)
		}
	})
	return verdictServer{srv.PolicyAddr(), srv.GRPCAddr(), srv.AdminAddr(), file}
}

// upstream is a test backend that records the headers of the requests it
// gets.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		io.WriteString(w, "upstream says hello")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.seen[len(u.seen)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startProcess runs a proxy binary until the test ends and waits until
// addr accepts connections. A missing binary fails the test: the test
// command installs it.
func startProcess(t *testing.T, addr, bin string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		// Debian puts nginx in /usr/sbin, which a user's PATH may lack.
		if _, serr := os.Stat("/usr/sbin/" + bin); serr == nil {
			path, err = "/usr/sbin/"+bin, nil
		}
	}
	if err != nil {
		t.Fatalf("%s is not installed (the test command installs it: bash scripts/test): %v", bin, err)
	}
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited early:\n%s", bin, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s:\n%s", bin, addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type proxyCase struct {
	name      string
	method    string
	auth      string
	status    int
	challenge string // WWW-Authenticate
	body      string // substring of the client's body
	user      string // X-Verdict-User at the upstream; "" when it must not be reached
}

// proxyCases are what the built-in rules give through any proxy.
func proxyCases(t *testing.T) []proxyCase {
	admin := "Bearer " + token(t, map[string]any{"sub": "root", "role": "admin"})
	viewer := "Bearer " + token(t, map[string]any{"sub": "joe", "role": "viewer"})
	return []proxyCase{
		{name: "read is allowed", method: "GET", status: 200, body: "upstream says hello", user: "anonymous"},
		{name: "read with a token names the user and strips it", method: "GET", auth: viewer, status: 200, user: "joe"},
		{name: "write without a token is 401", method: "POST", status: 401, challenge: `Bearer realm="verdict"`},
		{name: "write as viewer is 403", method: "DELETE", auth: viewer, status: 403},
		{name: "write as admin reaches the upstream", method: "PUT", auth: admin, status: 200, user: "root"},
		{name: "a forged token is 401", method: "POST", status: 401, challenge: `Bearer realm="verdict"`,
			auth: "Bearer " + strings.TrimSuffix(admin[7:], admin[len(admin)-4:]) + "AAAA"},
	}
}

func runProxyCases(t *testing.T, base string, up *upstream, cases []proxyCase, denyBody bool) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := up.count()
			req, _ := http.NewRequest(c.method, base+"/orders/7?x=1", strings.NewReader("payload"))
			req.Header.Set("X-Verdict-User", "spoofed")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, c.status, body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if !strings.Contains(string(body), c.body) {
				t.Errorf("body %q does not contain %q", body, c.body)
			}
			if denyBody && c.status == 403 && !strings.Contains(string(body), "needs the admin role") {
				t.Errorf("deny body %q is not Verdict's", body)
			}
			if c.user == "" {
				if up.count() != before {
					t.Fatal("a denied request reached the upstream")
				}
				return
			}
			h := up.last(t)
			if got := h.Get("X-Verdict-User"); got != c.user {
				t.Errorf("upstream X-Verdict-User %q, want %q", got, c.user)
			}
			if got := h.Get("Authorization"); got != "" {
				t.Errorf("upstream saw the credential %q", got)
			}
		})
	}
}

// TestNginxAuthRequest puts a real nginx with auth_request in front of a
// test upstream, asking Verdict's nginx adapter.
func TestNginxAuthRequest(t *testing.T) {
	policy, _ := startVerdict(t)
	up := startUpstream(t)
	dir := t.TempDir()
	addr := freePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
        location / {
            auth_request /_verdict;
            auth_request_set $verdict_user $upstream_http_x_verdict_user;
            proxy_set_header X-Verdict-User $verdict_user;
            proxy_set_header Authorization "";
            proxy_pass %[3]s;
        }
        location = /_verdict {
            internal;
            proxy_pass http://%[4]s/v1/authz/nginx;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }
    }
}
`, dir, addr, up.URL, policy)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, addr, "nginx", "-c", file, "-p", dir, "-e", "stderr")
	runProxyCases(t, "http://"+addr, up, proxyCases(t), false)
}

// TestCaddyForwardAuth puts a real Caddy with forward_auth in front of a
// test upstream, asking Verdict's forward adapter.
func TestCaddyForwardAuth(t *testing.T) {
	policy, _ := startVerdict(t)
	up := startUpstream(t)
	dir := t.TempDir()
	addr := freePort(t)
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/storage
}
http://%[2]s {
	route {
		forward_auth %[3]s {
			uri /v1/authz/forward
			copy_headers X-Verdict-User X-Verdict-Role
		}
		request_header -Authorization
		reverse_proxy %[4]s
	}
}
`, dir, addr, policy, strings.TrimPrefix(up.URL, "http://"))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, addr, "caddy", "run", "--config", file, "--adapter", "caddyfile")
	runProxyCases(t, "http://"+addr, up, proxyCases(t), true)
}

// TestServerGRPCListener asks the gRPC listener of a whole Verdict server,
// as Envoy in gRPC mode does.
func TestServerGRPCListener(t *testing.T) {
	_, addr := startVerdict(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check := func(method, auth string) *authv3.CheckResponse {
		t.Helper()
		hdr := map[string]string{}
		if auth != "" {
			hdr["authorization"] = auth
		}
		res, err := client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: method, Path: "/orders", Host: "shop.example.com", Headers: hdr}}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check("GET", ""); res.GetOkResponse() == nil {
		t.Errorf("read: %v", res)
	}
	if res := check("POST", ""); res.GetDeniedResponse().GetStatus().GetCode() != 401 {
		t.Errorf("write without a token: %v", res)
	}
	admin := "Bearer " + token(t, map[string]any{"sub": "root", "role": "admin"})
	if res := check("POST", admin); res.GetOkResponse() == nil {
		t.Errorf("write as admin: %v", res)
	}
}

// TestReloadKeepsRunningConfig breaks the authz section and reloads: the
// reload fails naming the field, and the adapters keep answering.
func TestReloadKeepsRunningConfig(t *testing.T) {
	v := startVerdictServer(t)
	data, err := os.ReadFile(v.file)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "authzen: {policy: authzen}", "authzen: {policy: missing}", 1)
	if err := os.WriteFile(v.file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+v.admin+"/v1/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 422 || !strings.Contains(string(body), `authz.authzen.policy: no document named \"missing\"`) {
		t.Fatalf("reload: %d %s", res.StatusCode, body)
	}
	res, err = http.Post("http://"+v.policy+"/access/v1/evaluation", "application/json", strings.NewReader(
		`{"subject":{"type":"user","id":"a"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"decision":true`) {
		t.Fatalf("after the failed reload: %d %s", res.StatusCode, body)
	}
}
