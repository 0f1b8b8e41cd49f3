package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/authz"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pexip"
	rethinkdoor "github.com/verdict-policy/verdict/rethink/door"
)

// frontDoor is a front door mounted on the policy listener that follows
// the configuration: the Pexip policy API, the reTHINK message endpoint,
// the proxy authorizers.
type frontDoor interface {
	http.Handler
	// Patterns lists the http.ServeMux patterns the door serves.
	Patterns() []string
	// Prepare builds the door's state for cfg and its compiled documents
	// without touching the running state; install makes it current. A
	// reload installs nothing unless every door prepared without error.
	Prepare(cfg *config.Config, docs []config.Document) (install func(), err error)
}

// doorDeps is what a front door may need from the process.
type doorDeps struct {
	logger   *slog.Logger
	registry *prometheus.Registry
	stores   *sharedStores // the shared store of each store configuration
}

// newDoors creates the front doors of the policy listener. Each front door
// package adds its constructor here.
func newDoors(deps doorDeps) ([]frontDoor, error) {
	var doors []frontDoor
	doors = append(doors, pexip.New(deps.logger, deps.registry))
	doors = append(doors, authz.New(deps.logger, deps.registry))
	doors = append(doors, newGatewayDoor(deps))
	doors = append(doors, rethinkdoor.New(deps.logger, deps.registry))
	return doors, nil
}

// prepareDoors prepares every door for cfg and returns one function that
// installs them all, or every error.
func prepareDoors(doors []frontDoor, cfg *config.Config, docs []config.Document) (func(), error) {
	var installs []func()
	var errs []error
	for _, d := range doors {
		install, err := d.Prepare(cfg, docs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		installs = append(installs, install)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func() {
		for _, install := range installs {
			install()
		}
	}, nil
}
