package store

import (
	"math"
	"testing"
	"time"
)

func TestBucketStep(t *testing.T) {
	tests := []struct {
		name        string
		excess      float64
		elapsed     time.Duration
		fresh       bool
		rate, burst float64
		wantExcess  float64
		want        BucketResult
	}{
		{"first request passes at once", 0, 0, true, 10, 5, 0,
			BucketResult{Allowed: true, Remaining: 5}},
		{"back to back is delayed by one interval", 0, 0, false, 10, 5, 1,
			BucketResult{Allowed: true, Delay: 100 * time.Millisecond, Remaining: 4}},
		{"drained level", 3, time.Second, false, 10, 5, 0,
			BucketResult{Allowed: true, Remaining: 5}},
		{"partly drained", 3, 150 * time.Millisecond, false, 10, 5, 2.5,
			BucketResult{Allowed: true, Delay: 250 * time.Millisecond, Remaining: 2}},
		{"beyond the burst", 5, 0, false, 10, 5, 6,
			BucketResult{RetryAfter: 100 * time.Millisecond}},
		{"no burst: second is rejected", 0, 0, false, 2, 0, 1,
			BucketResult{RetryAfter: 500 * time.Millisecond}},
		{"clock stepped back counts as no time", 1, -time.Hour, false, 10, 5, 2,
			BucketResult{Allowed: true, Delay: 200 * time.Millisecond, Remaining: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			excess, got := bucketStep(tt.excess, tt.elapsed, tt.fresh, tt.rate, tt.burst)
			if math.Abs(excess-tt.wantExcess) > 1e-9 || got != tt.want {
				t.Fatalf("bucketStep = %v, %+v; want %v, %+v", excess, got, tt.wantExcess, tt.want)
			}
		})
	}
}

func TestWindowOf(t *testing.T) {
	tests := []struct {
		name      string
		now       time.Time
		window    time.Duration
		wantIdx   int64
		wantReset time.Duration
	}{
		{"on a minute", time.Unix(120, 0), time.Minute, 2, time.Minute},
		{"inside a minute", time.Unix(150, 0), time.Minute, 2, 30 * time.Second},
		{"last nanosecond", time.Unix(179, 999_999_999), time.Minute, 2, time.Nanosecond},
		{"hour", time.Unix(3600*5+1, 0), time.Hour, 5, time.Hour - time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, reset := windowOf(tt.now, tt.window)
			if idx != tt.wantIdx || reset != tt.wantReset {
				t.Fatalf("windowOf = %d, %v; want %d, %v", idx, reset, tt.wantIdx, tt.wantReset)
			}
		})
	}
}

func TestDurationsSaturate(t *testing.T) {
	if got := seconds(1e300); got != math.MaxInt64 {
		t.Fatalf("seconds(1e300) = %v", got)
	}
	if got := bucketTTL(1e12, minRate); got != 365*24*time.Hour {
		t.Fatalf("bucketTTL capped at %v", got)
	}
	if got := bucketTTL(0, 10); got != 1100*time.Millisecond {
		t.Fatalf("bucketTTL(0, 10) = %v", got)
	}
}
