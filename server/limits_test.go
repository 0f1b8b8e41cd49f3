package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

func TestConnectionLimitsDerived(t *testing.T) {
	set := config.Limits{
		Policy:  config.ListenerLimits{MaxConnections: 100},
		Gateway: config.ListenerLimits{MaxConnections: 200},
		Admin:   config.ListenerLimits{MaxConnections: 5},
		GRPC:    config.ListenerLimits{MaxConnections: 50},
	}
	tests := []struct {
		name          string
		limits        config.Limits
		nofile        uint64
		gateway, grpc bool
		want          listenerConns
	}{
		// 1024 - 256 reserved - 64 admin = 704 for the clients.
		{"policy alone", config.Limits{}, 1024, false, false, listenerConns{policy: 704, admin: 64, derived: true}},
		{"with the gateway, which counts twice", config.Limits{}, 1024, true, false, listenerConns{policy: 234, gateway: 234, admin: 64, derived: true}},
		{"every listener", config.Limits{}, 1024, true, true, listenerConns{policy: 176, gateway: 176, admin: 64, grpc: 176, derived: true}},
		// 1048576 / 8 reserved.
		{"high limit", config.Limits{}, 1 << 20, true, false, listenerConns{policy: 305813, gateway: 305813, admin: 64, derived: true}},
		{"low limit keeps a floor", config.Limits{}, 200, true, false, listenerConns{policy: 16, gateway: 16, admin: 64, derived: true}},
		{"set in the configuration", set, 1024, true, true, listenerConns{policy: 100, gateway: 200, admin: 5, grpc: 50}},
		{"unknown open-file limit", config.Limits{}, 0, true, false, listenerConns{admin: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := connectionLimits(tt.limits, tt.nofile, tt.gateway, tt.grpc)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if tt.want.derived && tt.nofile >= 1024 {
				if files := got.files(tt.gateway, tt.grpc); files+reservedFilesMin > tt.nofile {
					t.Errorf("derived limits take %d files of %d, leaving less than the reserve", files, tt.nofile)
				}
			}
		})
	}
}

func TestConnectionLimitsOverOpenFiles(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c := connectionLimits(config.Limits{Gateway: config.ListenerLimits{MaxConnections: 5000}}, 1024, true, false)
	logConnectionLimits(logger, c, 1024, true, false)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "open_file_limit=1024") {
		t.Errorf("no warning for limits over the open-file limit:\n%s", logs.String())
	}
	logs.Reset()
	logConnectionLimits(logger, connectionLimits(config.Limits{}, 1024, true, false), 1024, true, false)
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a warning for the derived limits:\n%s", logs.String())
	}
}
