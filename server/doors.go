package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/authz"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pexip"
	"github.com/verdict-policy/verdict/rethink"
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

// dryRunner is a door that can be prepared without binding or starting
// anything of its own (the Pexip door's TLS listener).
type dryRunner interface {
	SetDryRun()
}

// doorDeps is what a front door may need from the process.
type doorDeps struct {
	logger   *slog.Logger
	registry *prometheus.Registry
	stores   *sharedStores // the shared store of each store configuration
	// check builds the doors for a check of the configuration: each runs
	// dry, and the gateway, whose chains verdict check builds itself, is
	// left out.
	check bool
}

// newDoors creates the front doors of the policy listener. Each front door
// package adds its constructor here.
func newDoors(deps doorDeps) ([]frontDoor, error) {
	var doors []frontDoor
	px := pexip.New(deps.logger, deps.registry)
	rt := rethink.NewDoor(deps.logger, deps.registry)
	if deps.stores != nil {
		// One connection pool per store configuration for the whole
		// process: the gateway's counters, the Pexip store tables and
		// the reTHINK state.
		px.UseStores(deps.stores.get)
		rt.UseStores(deps.stores.get)
	}
	doors = append(doors, px)
	doors = append(doors, authz.New(deps.logger, deps.registry))
	if !deps.check {
		doors = append(doors, newGatewayDoor(deps))
	}
	doors = append(doors, rt)
	if deps.check {
		for _, d := range doors {
			if dr, ok := d.(dryRunner); ok {
				dr.SetDryRun()
			}
		}
	}
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

// Check prepares the front doors of the policy listener for cfg and its
// compiled documents as a start or a reload would, and installs nothing:
// table files, password files, certificates and the documents each door
// names are read and checked. The gateway is not among them (verdict
// check builds its chains itself). It returns every problem.
func Check(cfg *config.Config, docs []config.Document) error {
	reg := prometheus.NewRegistry()
	stores, err := newSharedStores(reg)
	if err != nil {
		return err
	}
	defer func() { _ = stores.close() }()
	deps := doorDeps{logger: slog.New(slog.DiscardHandler), registry: reg, stores: stores, check: true}
	doors, err := newDoors(deps)
	if err != nil {
		return err
	}
	_, err = prepareDoors(doors, cfg, docs)
	for _, d := range doors {
		if c, ok := d.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	return err
}
