package pexip

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/pdl"
)

// twoTablePolicy needs a row of both a and b to permit.
const twoTablePolicy = `
- id: both
  target: {request_type: {equals: service_configuration}}
  condition: {allOf: [{a: {exists: true}}, {b: {exists: true}}]}
  effect: permit
  obligations:
    result: {service_type: conference, name: "{{ a.name }}"}
`

// TestLookupsShareTheRequestDeadline checks that pexip.timeout bounds the
// lookups of one request together: each lookup gets the same deadline,
// fixed when the request arrived, not a fresh timeout of its own.
func TestLookupsShareTheRequestDeadline(t *testing.T) {
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "p.yaml", Data: []byte(twoTablePolicy)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var deadlines []time.Time
	slow := tableFunc(func(ctx context.Context, key string) (Row, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			t.Error("a lookup without a deadline")
		}
		mu.Lock()
		deadlines = append(deadlines, dl)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // each lookup takes a while
		return Row{"alias": key, "name": key}, nil
	})
	const timeout = 5 * time.Second
	st := &state{timeout: timeout, tableIndex: map[string]int{"a": 0, "b": 1},
		tables: []tableRef{
			{name: "a", key: "alias", lookup: []string{"local_alias_user"}, table: slow},
			{name: "b", key: "alias", lookup: []string{"local_alias_user"}, table: slow},
		}}
	st.docs[serviceConfiguration] = docRef{name: "p", doc: doc}
	d := New(nil, nil)
	d.cur.Store(st)
	before := time.Now()
	w := serve(d, "GET", "/policy/v1/service/configuration?local_alias=room")
	after := time.Now()
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"name":"room"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if len(deadlines) != 2 {
		t.Fatalf("%d lookups, want 2", len(deadlines))
	}
	if !deadlines[0].Equal(deadlines[1]) {
		t.Errorf("the lookups had deadlines %s and %s; one request has one deadline", deadlines[0], deadlines[1])
	}
	// Two lookups of 20 ms each: a deadline per lookup would put the
	// second one 20 ms later than the first.
	if dl := deadlines[0]; dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout)) {
		t.Errorf("deadline %s is not the arrival (%s to %s) plus %s", dl, before, after, timeout)
	}
}

func TestNoneIsAbsent(t *testing.T) {
	q, err := parseQuery("preauthenticated_role=None&role=None&remote_display_name=None&local_alias=None&registered=None&call_tag=None", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &request{ctx: context.Background(), st: &state{}, query: q}
	for _, tt := range []struct {
		name string
		want any
	}{
		{"preauthenticated_role", nil},
		{"role", nil},
		{"registered", nil},
		{"remote_display_name", "None"}, // a name someone chose
		{"local_alias", "None"},
		{"call_tag", "None"},
	} {
		if got, err := r.Attribute(tt.name); err != nil || got != tt.want {
			t.Errorf("Attribute(%q) = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}

func TestOverflowCleaned(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   result
		list string
		flds string
	}{
		{"empty entries of the list are dropped",
			result{"location": "A", "overflow_locations": []any{"", "B", " ", "C"}},
			`{"location":"A","overflow_locations":["B","C"]}`,
			`{"location":"A","primary_overflow_location":"B","secondary_overflow_location":"C"}`},
		{"a list written as text",
			result{"location": "A", "overflow_locations": "B, C"},
			`{"location":"A","overflow_locations":["B","C"]}`,
			`{"location":"A","primary_overflow_location":"B","secondary_overflow_location":"C"}`},
		{"an empty primary leaves the secondary first",
			result{"location": "A", "primary_overflow_location": "", "secondary_overflow_location": "C"},
			`{"location":"A","overflow_locations":["C"]}`,
			`{"location":"A","primary_overflow_location":"C"}`},
		{"nothing left",
			result{"location": "A", "overflow_locations": []any{""}, "primary_overflow_location": ""},
			`{"location":"A"}`, `{"location":"A"}`},
	} {
		for form, want := range map[string]string{OverflowList: tt.list, OverflowFields: tt.flds} {
			in := result{}
			for k, v := range tt.in {
				in[k] = v
			}
			shapeOverflow(in, form)
			if got := string(in.appendJSON(nil)); got != want {
				t.Errorf("%s, %s form: %s, want %s", tt.name, form, got, want)
			}
		}
	}
}

func TestTLSOnlyRefusesPlainRequests(t *testing.T) {
	d := doorWithTable(t, tableFunc(func(_ context.Context, key string) (Row, error) {
		return Row{"alias": key, "name": key, "pin": "1"}, nil
	}), time.Second)
	st := *d.cur.Load()
	st.tlsOnly = true
	d.cur.Store(&st)
	w := serve(d, "GET", "/policy/v1/service/configuration?local_alias=room")
	if w.Code != 403 || !strings.Contains(w.Body.String(), "https_required") {
		t.Errorf("plain request: %d %s, want 403 https_required", w.Code, w.Body)
	}
	req := httptest.NewRequest("GET", "/policy/v1/service/configuration?local_alias=room", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"name":"room"`) {
		t.Errorf("HTTPS request: %d %s, want the room", rec.Code, rec.Body)
	}
}

func TestLogAliases(t *testing.T) {
	const target = "/policy/v1/service/configuration?local_alias=sip%3Aroom%40example.com&remote_alias=alice%40example.com"
	digest := func(mode, a string) string { return (&logLine{aliasMode: mode}).shownAlias(a) }
	for _, tt := range []struct {
		mode      string
		want, not []string
	}{
		{LogPlain, []string{"local_alias=sip:room@example.com", "remote_alias=alice@example.com"}, nil},
		{LogHash,
			[]string{"local_alias=" + digest(LogHash, "room@example.com"), "remote_alias=sha256:"},
			[]string{"room@", "alice@"}},
		{LogOmit, []string{"outcome=answer"}, []string{"local_alias", "remote_alias", "room", "alice"}},
	} {
		var logs bytes.Buffer
		d := doorWithTable(t, tableFunc(func(_ context.Context, key string) (Row, error) {
			return Row{"alias": key, "name": key, "pin": "1"}, nil
		}), time.Second)
		d.logger = slog.New(slog.NewTextHandler(&logs, nil))
		st := *d.cur.Load()
		st.logAliases = tt.mode
		d.cur.Store(&st)
		if w := serve(d, "GET", target); w.Code != 200 {
			t.Fatalf("%s: %d %s", tt.mode, w.Code, w.Body)
		}
		line := logs.String()
		for _, s := range tt.want {
			if !strings.Contains(line, s) {
				t.Errorf("%s: log line lacks %q:\n%s", tt.mode, s, line)
			}
		}
		for _, s := range tt.not {
			if strings.Contains(line, s) {
				t.Errorf("%s: log line shows %q:\n%s", tt.mode, s, line)
			}
		}
	}
	// Every form of one alias gives one digest.
	if a, b := digest(LogHash, "sip:Room@Example.com;transport=tls"), digest(LogHash, "Room@example.com"); a != b {
		t.Errorf("digests differ: %s and %s", a, b)
	}
}

// With tls.only the real HTTPS listener answers and the plain listener
// refuses, both over real connections.
func TestTLSOnlyOverTheNetwork(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,1234\n")
	f := writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  tables: {vmr: {path: vmrs.csv}}
  tls: {listen: "127.0.0.1:0", cert_file: cert.pem, key_file: key.pem, only: true}
`)
	pool := selfSigned(t, dir, "only")
	d := New(nil, nil)
	defer d.Close()
	if err := prepare(t, d, f); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(d)
	defer plain.Close()
	const path = "/policy/v1/service/configuration?local_alias=room"
	for _, tt := range []struct {
		name   string
		client *http.Client
		url    string
		status int
		body   string
	}{
		{"plain", plain.Client(), plain.URL + path, 403, "https_required"},
		{"https", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https://" + d.TLSAddr() + path, 200, `"pin":"1234"`},
	} {
		tt.client.Timeout = 5 * time.Second
		resp, err := tt.client.Get(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, b, tt.status, tt.body)
		}
	}
}
