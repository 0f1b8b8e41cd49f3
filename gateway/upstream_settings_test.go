package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
)

func TestGatewayUpstreamSettings(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       Settings // the three upstream pool settings, defaults applied
		problems   []string
	}{
		{name: "defaults", data: "gateway: {}",
			want: Settings{UpstreamKeepalive: 1500 * time.Millisecond, UpstreamQueueTimeout: 10 * time.Second}},
		{name: "set", data: "gateway: {upstream_keepalive_timeout: 500ms, upstream_max_conns: 64, upstream_queue_timeout: 2s}",
			want: Settings{UpstreamKeepalive: 500 * time.Millisecond, UpstreamMaxConns: 64, UpstreamQueueTimeout: 2 * time.Second}},
		{name: "no bound", data: "gateway: {upstream_max_conns: 0}",
			want: Settings{UpstreamKeepalive: 1500 * time.Millisecond, UpstreamQueueTimeout: 10 * time.Second}},
		{name: "bad values", data: "gateway:\n  upstream_keepalive_timeout: 0s\n  upstream_max_conns: -1\n  upstream_queue_timeout: soon\n",
			problems: []string{
				"gw.yaml:2:31: gateway.upstream_keepalive_timeout: must be more than 0",
				"gw.yaml:3:23: gateway.upstream_max_conns: must be from 0 to 1048576, not -1",
				`gw.yaml:4:27: gateway.upstream_queue_timeout: must be a duration such as 500ms or 2s, not "soon"`,
			}},
		{name: "not a number", data: "gateway: {upstream_max_conns: many}",
			problems: []string{"gateway.upstream_max_conns: must be a whole number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("gw.yaml", []byte(tc.data))
			if tc.problems != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, p := range tc.problems {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("problems lack %q:\n%v", p, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := ConfigOf(cfg).WithDefaults()
			if g.UpstreamKeepalive != tc.want.UpstreamKeepalive || g.UpstreamMaxConns != tc.want.UpstreamMaxConns || g.UpstreamQueueTimeout != tc.want.UpstreamQueueTimeout {
				t.Errorf("got keepalive %s, max conns %d, queue %s; want %s, %d, %s",
					g.UpstreamKeepalive, g.UpstreamMaxConns, g.UpstreamQueueTimeout,
					tc.want.UpstreamKeepalive, tc.want.UpstreamMaxConns, tc.want.UpstreamQueueTimeout)
			}
		})
	}
}
