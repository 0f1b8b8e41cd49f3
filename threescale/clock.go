package threescale

import "time"

// Clock is the time source of an Authorizer: cache expiry in this process
// and the report interval. Tests pass one they move by hand
// (threescaletest.Clock).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTicker returns a ticker that fires every d.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks, as time.Ticker does.
type Ticker interface {
	// C returns the channel ticks arrive on.
	C() <-chan time.Time
	// Stop stops the ticks.
	Stop()
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }

func (t systemTicker) Stop() { t.t.Stop() }
