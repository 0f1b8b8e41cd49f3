package deploy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/processtest"
	"github.com/verdict-policy/verdict/internal/redistest"
)

// configMapVolume lays out a ConfigMap's data in dir as the kubelet
// mounts it: the files in a timestamped directory, a ..data link to it,
// and one link per key through ..data.
type configMapVolume struct {
	t   *testing.T
	dir string
	gen int
	cur string // the timestamped directory ..data points at
}

func newConfigMapVolume(t *testing.T, data map[string]string) *configMapVolume {
	v := &configMapVolume{t: t, dir: t.TempDir()}
	v.update(data)
	for k := range data {
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(v.dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// update writes data as the kubelet's atomic writer does: a new
// timestamped directory, a ..data_tmp link to it renamed over ..data,
// then the old directory removed.
func (v *configMapVolume) update(data map[string]string) {
	v.t.Helper()
	v.gen++
	next := fmt.Sprintf("..2026_01_01_00_00_%02d.%09d", v.gen, v.gen)
	for k, val := range data {
		writeTestFile(v.t, filepath.Join(v.dir, next, k), val)
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(next, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if v.cur != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.cur)); err != nil {
			v.t.Fatal(err)
		}
	}
	v.cur = next
}

// decide asks the policy listener at addr for a decision of document doc.
func decide(t *testing.T, addr, doc, input string) string {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/v1/decide", "application/json",
		strings.NewReader(fmt.Sprintf(`{"policy": %q, "input": %s}`, doc, input)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// TestConfigMapUpdate serves the base ConfigMap from a directory laid out
// as the kubelet mounts it, with the listeners moved to free loopback
// ports, then updates the ConfigMap as the kubelet does: Verdict's file
// watcher sees the ..data swap and serves the new policy, without a
// restart or a reload request.
func TestConfigMapUpdate(t *testing.T) {
	objs := kustomize(t, path.Join(kubeDir, "base"))
	_, _, cm, key := verdictSetup(t, objs)
	policy, admin := processtest.FreeAddr(t), processtest.FreeAddr(t)
	data := map[string]string{}
	for k, v := range cm.Data {
		data[k] = v
	}
	data[key] = processtest.SetField(t, processtest.SetField(t, data[key], "listen.policy", policy), "listen.admin", admin)
	vol := newConfigMapVolume(t, data)
	p := processtest.Start(t, verdict.Path(t), filepath.Join(vol.dir, key), admin)

	const post = `{"method": "POST", "path": "/orders"}`
	if got := decide(t, policy, "api", post); !strings.Contains(got, `"decision":"deny"`) {
		t.Fatalf("POST before the update: %s", got)
	}
	// The update opens POST too.
	data["api.yaml"] = strings.Replace(data["api.yaml"], "in: [GET, HEAD]", "in: [GET, HEAD, POST]", 1)
	if data["api.yaml"] == cm.Data["api.yaml"] {
		t.Fatal("the base ConfigMap's api.yaml no longer lists [GET, HEAD]: update the test")
	}
	vol.update(data)

	deadline := time.Now().Add(20 * time.Second)
	for {
		got := decide(t, policy, "api", post)
		if strings.Contains(got, `"decision":"permit"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the ConfigMap update, POST still gets %s\n%s", got, p.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(p.Logs(), "reason=\"file change\"") {
		t.Errorf("the reload was not logged as a file change:\n%s", p.Logs())
	}
}

// TestSharedRedis runs two replicas with the Redis example's ConfigMap,
// pointed at a real Redis server and a test upstream, with the rate
// limit cut to three requests an hour: requests spread over both
// replicas share one count, so the fourth is refused whichever replica
// gets it.
func TestSharedRedis(t *testing.T) {
	objs := kustomize(t, path.Join(kubeDir, "redis"))
	_, _, cm, key := verdictSetup(t, objs)
	rds := redistest.Start(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream")
	}))
	defer upstream.Close()

	// The window is an hour, aligned to the clock: start well inside one.
	const window = 3600
	if left := window - time.Now().Unix()%window; left < 60 {
		time.Sleep(time.Duration(left+1) * time.Second)
	}

	type replica struct{ gateway string }
	var replicas []replica
	for i := range 2 {
		policy, admin, gateway := processtest.FreeAddr(t), processtest.FreeAddr(t), processtest.FreeAddr(t)
		cfg := cm.Data[key]
		for field, value := range map[string]any{
			"listen.policy": policy, "listen.admin": admin, "listen.gateway": gateway,
			"store.redis.url":              rds.URL(),
			"services.0.proxy.api_backend": upstream.URL,
			"services.0.proxy.policy_chain.0.configuration.fixed_window_limiters.0.count":  3,
			"services.0.proxy.policy_chain.0.configuration.fixed_window_limiters.0.window": window,
		} {
			cfg = processtest.SetField(t, cfg, field, value)
		}
		dir := t.TempDir()
		for k, v := range cm.Data {
			writeTestFile(t, filepath.Join(dir, k), v)
		}
		file := filepath.Join(dir, fmt.Sprintf("verdict-%d.yaml", i))
		writeTestFile(t, file, cfg)
		processtest.Start(t, verdict.Path(t), file, admin)
		replicas = append(replicas, replica{gateway: gateway})
	}

	var got []int
	for i := range 6 {
		req, err := http.NewRequest(http.MethodGet, "http://"+replicas[i%2].gateway+"/items", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "api.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	want := []int{200, 200, 200, 429, 429, 429}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses over two replicas sharing Redis = %v, want %v", got, want)
	}
}
