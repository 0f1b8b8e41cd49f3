package server

import (
	"io/fs"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/examples"
)

// The built-in file is read leniently by config.Default, which skips a
// section no linked package owns. The server links every front door, so
// read strictly here every section of the file must have its owner.
func TestBuiltInSectionsAllHaveOwners(t *testing.T) {
	data, err := fs.ReadFile(examples.FS(), examples.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(examples.ConfigFile, data); err != nil {
		t.Fatalf("the built-in file read as a user's file: %v", err)
	}
}

// A check prepares the policy listener's doors dry and leaves the gateway
// out; a serving process has the gateway too.
func TestDoorsForCheck(t *testing.T) {
	kinds := func(check bool) (gateway bool, n int) {
		doors, err := newDoors(doorDeps{logger: slog.New(slog.DiscardHandler), registry: prometheus.NewRegistry(), check: check})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range doors {
			if _, ok := d.(*gatewayDoor); ok {
				gateway = true
			}
			var _ http.Handler = d
		}
		return gateway, len(doors)
	}
	if gw, n := kinds(true); gw || n == 0 {
		t.Errorf("check: gateway %v among %d doors, want no gateway", gw, n)
	}
	if gw, _ := kinds(false); !gw {
		t.Error("serve: no gateway door")
	}
}
