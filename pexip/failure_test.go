package pexip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/verdict-policy/verdict/pdl"
)

// tableFunc is a Table whose lookups a test controls.
type tableFunc func(ctx context.Context, key string) (Row, error)

func (f tableFunc) Row(ctx context.Context, key string) (Row, error) { return f(ctx, key) }

// doorWithTable serves a document that answers from the table vmr.
func doorWithTable(t *testing.T, tbl Table, timeout time.Duration) *Door {
	t.Helper()
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "p.yaml", Data: []byte(vmrPolicy)})
	if err != nil {
		t.Fatal(err)
	}
	st := &state{timeout: timeout, tableIndex: map[string]int{"vmr": 0},
		tables: []tableRef{{name: "vmr", key: "alias", lookup: []string{"local_alias_user"}, table: tbl}}}
	st.docs[serviceConfiguration] = docRef{name: "p", doc: doc}
	d := New(nil, nil)
	d.cur.Store(st)
	return d
}

const fallbackBody = `{"status":"fail","action":"continue","result":{}}`

func TestSlowLookupFallsBackInTime(t *testing.T) {
	d := doorWithTable(t, tableFunc(func(ctx context.Context, key string) (Row, error) {
		<-ctx.Done() // a store that never answers
		return nil, ctx.Err()
	}), 100*time.Millisecond)
	start := time.Now()
	w := serve(d, "GET", "/policy/v1/service/configuration?local_alias=room")
	if w.Code != 404 || w.Body.String() != fallbackBody {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %s; the lookup timeout is 100ms", el)
	}
	if n := testCount(d, outError); n != 1 {
		t.Errorf("error count %v", n)
	}
}

func TestPanicFallsBack(t *testing.T) {
	d := doorWithTable(t, tableFunc(func(context.Context, string) (Row, error) {
		panic("lookup exploded")
	}), time.Second)
	w := serve(d, "GET", "/policy/v1/service/configuration?local_alias=room")
	if w.Code != 404 || w.Body.String() != fallbackBody {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
	if n := testCount(d, outError); n != 1 {
		t.Errorf("error count %v", n)
	}
	// The door keeps serving.
	w = serve(d, "GET", "/policy/v1/service/configuration?local_alias=")
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"status":"fail"`) {
		t.Errorf("after the panic: %d %s", w.Code, w.Body)
	}
}

func testCount(d *Door, outcome string) float64 {
	return testutil.ToFloat64(d.metrics.requests[outcome][serviceConfiguration])
}
