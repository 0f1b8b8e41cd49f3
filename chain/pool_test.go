package chain

import (
	"net/http/httptest"
	"testing"
)

func TestAcquireContextStartsClean(t *testing.T) {
	r1 := httptest.NewRequest("POST", "http://One.example:81/a?x=1", nil)
	r1.Header["X-A"] = []string{"1", "2"}
	r1.Header["X-B"] = []string{"3"}
	c := AcquireContext(r1, "10.0.0.1", nil, map[string]any{"e": 1})
	c.Request.Header["X-A"] = append(c.Request.Header["X-A"], "appended")
	c.Request.Header.Set("X-New", "n")
	c.Request.URL.Path = "/changed"
	c.Set("k", "v")
	c.SetPrivate(c, "mine")
	c.Response.Header.Set("X-Resp", "r")
	c.Exit(403, "no")
	if got := c.Request.Header["X-B"]; len(got) != 1 || got[0] != "3" {
		t.Fatalf("appending to one header changed another: %v", got)
	}
	if r1.Header.Get("X-New") != "" || r1.URL.Path != "/a" || len(r1.Header["X-A"]) != 2 {
		t.Fatalf("the client's request changed: %v %s", r1.Header, r1.URL.Path)
	}
	if c.Original.Host != "one.example" || c.Original.URI != "/a?x=1" {
		t.Fatalf("original %+v", c.Original)
	}
	c.Release()

	for i := 0; i < 3; i++ { // the pool may or may not hand the same one back
		r2 := httptest.NewRequest("GET", "http://two.example/b", nil)
		r2.Header.Set("X-C", "c")
		d := AcquireContext(r2, "10.0.0.2", nil, nil)
		if _, ok := d.Get("k"); ok {
			t.Error("a value of the previous request survived")
		}
		if _, ok := d.Get("e"); ok {
			t.Error("an export of the previous request survived")
		}
		if d.Private(c) != nil || d.Exited() || d.Response.Status != 0 || len(d.Response.Header) != 0 {
			t.Errorf("state of the previous request survived: %+v", d.Response)
		}
		if len(d.Request.Header) != 1 || d.Request.Header.Get("X-C") != "c" || d.Request.URL.Path != "/b" || d.ClientIP != "10.0.0.2" {
			t.Errorf("request %v %s %s", d.Request.Header, d.Request.URL.Path, d.ClientIP)
		}
		d.Release()
	}
}

func TestReleaseOfANewContextIsHarmless(t *testing.T) {
	c := NewContext(httptest.NewRequest("GET", "http://x/", nil), "", nil, nil)
	c.Release()
	if c.Request == nil {
		t.Error("Release cleared a Context that is not pooled")
	}
}

func BenchmarkContext(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/v2/items?page=2", nil)
	for _, h := range []string{"Accept", "User-Agent", "Origin", "X-Role"} {
		r.Header.Set(h, "value")
	}
	b.Run("NewContext", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = NewContext(r, "127.0.0.1", nil, nil)
		}
	})
	b.Run("AcquireContext", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			AcquireContext(r, "127.0.0.1", nil, nil).Release()
		}
	})
}

func TestReleaseLeavesSharedValuesAlone(t *testing.T) {
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Header.Set("Origin", "https://app.example.com")
	c := AcquireContext(r, "", nil, nil)
	shared := c.Request.Header["Origin"] // as a CORS policy may echo it
	c.Release()
	d := AcquireContext(httptest.NewRequest("GET", "http://y/", nil), "", nil, nil)
	defer d.Release()
	if shared[0] != "https://app.example.com" {
		t.Errorf("a value handed out before Release changed: %q", shared[0])
	}
}
