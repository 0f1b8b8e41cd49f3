package authz

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAnswerMetrics(t *testing.T) {
	d := loadDoor(t, nil, nil)
	serve := func(target string, header ...string) {
		r := httptest.NewRequest("GET", target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		d.ServeHTTP(httptest.NewRecorder(), r)
	}
	serve("/v1/authz/nginx", "X-Original-URI", "/search?q=verdict", "X-Forwarded-Host", "shop.example.com", "X-Forwarded-Proto", "https")
	serve("/v1/authz/nginx", "X-Original-URI", "/orders")
	serve("/v1/authz/nginx", "X-Original-URI", "/orders")
	serve("/v1/authz/nginx")
	for _, c := range []struct {
		answer answer
		want   float64
	}{{ansAllow, 1}, {ansDeny, 2}, {ansInvalid, 1}} {
		if got := testutil.ToFloat64(d.metrics.answers[adNginx][c.answer]); got != c.want {
			t.Errorf("nginx %s = %v, want %v", answerNames[c.answer], got, c.want)
		}
	}
	if got := testutil.ToFloat64(d.metrics.answers[adEnvoy][ansAllow]); got != 0 {
		t.Errorf("envoy allow = %v, want 0", got)
	}
}
