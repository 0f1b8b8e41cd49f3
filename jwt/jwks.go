package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// KeySet is a parsed JSON Web Key Set: the signature keys it holds, by key
// id. It is immutable and safe for concurrent use.
type KeySet struct {
	keys  []*Verifier // one single-key verifier per key, in file order
	kids  []string
	byKid map[string]*Verifier
}

// Len returns the number of usable keys in the set.
func (ks *KeySet) Len() int { return len(ks.keys) }

// jwk is the part of a JSON Web Key the verifier reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JSON Web Key Set ({"keys": [...]}). It keeps the RSA
// (2048 bits or more), EC P-256 and Ed25519 public keys meant for
// signatures; keys for encryption and key types it does not verify with
// (such as symmetric "oct" keys, which do not belong in a published set)
// are skipped. A set left with no usable key is an error, as is a key that
// claims a supported type but does not parse.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("key set is not a JSON object with a keys list: %w", err)
	}
	ks := &KeySet{byKid: make(map[string]*Verifier, len(doc.Keys))}
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
		}
		if pub == nil {
			continue
		}
		v := &Verifier{}
		if err := v.setKey(pub); err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && k.Alg != v.alg {
			return nil, fmt.Errorf("keys[%d] (kid %q): alg %q does not fit a %s key (want %s)", i, k.Kid, k.Alg, k.Kty, v.alg)
		}
		if k.Kid != "" {
			if _, dup := ks.byKid[k.Kid]; dup {
				return nil, fmt.Errorf("keys[%d]: kid %q appears twice", i, k.Kid)
			}
			ks.byKid[k.Kid] = v
		}
		ks.keys = append(ks.keys, v)
		ks.kids = append(ks.kids, k.Kid)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("key set holds no RSA, EC P-256 or Ed25519 signature key")
	}
	return ks, nil
}

// publicKey decodes the key; nil without an error for a key type the
// verifier does not use.
func (k *jwk) publicKey() (any, error) {
	dec := base64.RawURLEncoding
	field := func(name, v string) ([]byte, error) {
		if v == "" {
			return nil, fmt.Errorf("%s is missing", name)
		}
		b, err := dec.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not base64url: %w", name, err)
		}
		return b, nil
	}
	switch k.Kty {
	case "RSA":
		n, err := field("n", k.N)
		if err != nil {
			return nil, err
		}
		e, err := field("e", k.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("e is too large")
		}
		exp := new(big.Int).SetBytes(e)
		if exp.Int64() < 3 || exp.Int64()%2 == 0 {
			return nil, fmt.Errorf("e = %d is not a valid RSA exponent", exp.Int64())
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q: only P-256 (ES256) is supported", k.Crv)
		}
		x, err := field("x", k.X)
		if err != nil {
			return nil, err
		}
		y, err := field("y", k.Y)
		if err != nil {
			return nil, err
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("x and y must be 32 bytes each for P-256")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("the point is not on P-256: %w", err)
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("curve %q: only Ed25519 (EdDSA) is supported", k.Crv)
		}
		x, err := field("x", k.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x must be %d bytes for Ed25519", ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

// KeySource provides the key set a Verifier made by NewKeySet checks
// tokens with.
type KeySource interface {
	// KeySet returns the current keys. missing is true when a token named
	// a key id the last set returned lacks, a hint that the keys rotated.
	KeySet(missing bool) (*KeySet, error)
}

// StaticKeys is a key set that never changes, such as one read from a file.
type StaticKeys struct{ Set *KeySet }

// KeySet returns the set.
func (s StaticKeys) KeySet(bool) (*KeySet, error) { return s.Set, nil }

// ReadJWKSFile reads and parses a key set file.
func ReadJWKSFile(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	ks, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("key set %s: %w", path, err)
	}
	return ks, nil
}

// maxJWKSSize bounds the body read from a key set URL.
const maxJWKSSize = 1 << 20

// RemoteKeys is a key set fetched from a URL and cached. The keys are
// fetched on first use; once they are older than the refresh interval the
// cached set keeps serving while one background fetch replaces it; a token
// naming an unknown key id causes a fetch at once, at most once per
// MinInterval, so a stream of forged kids cannot hammer the key server. A
// failed fetch keeps the last good set. It is safe for concurrent use.
type RemoteKeys struct {
	url    string
	client *http.Client
	// refresh is how old the keys may get before they are fetched again.
	refresh time.Duration
	// minInterval is the least time between two fetches.
	minInterval time.Duration
	logger      *slog.Logger
	now         func() time.Time

	cur        atomic.Pointer[KeySet]
	mu         sync.Mutex // serialises fetches and guards the fields below
	triedAt    time.Time  // when the last fetch started
	lastErr    error
	refreshing atomic.Bool
	fetchedAt  atomic.Int64 // when cur was fetched, in Unix nanoseconds
}

// RemoteOptions tune a RemoteKeys; zero fields take the defaults.
type RemoteOptions struct {
	// Client makes the requests; nil means a client with a 5 s timeout.
	Client *http.Client
	// Refresh is how long a fetched set is used before it is fetched
	// again (default 5 minutes).
	Refresh time.Duration
	// MinInterval is the least time between two fetches (default 10 s).
	MinInterval time.Duration
	// Logger reports failed fetches; nil means slog.Default().
	Logger *slog.Logger
	// Clock replaces time.Now, for tests.
	Clock func() time.Time
}

// NewRemoteKeys returns a key source for the key set at url, an http:// or
// https:// URL. Nothing is fetched until the keys are first needed.
func NewRemoteKeys(url string, o RemoteOptions) *RemoteKeys {
	r := &RemoteKeys{url: url, client: o.Client, refresh: o.Refresh, minInterval: o.MinInterval, logger: o.Logger, now: o.Clock}
	if r.client == nil {
		r.client = &http.Client{Timeout: 5 * time.Second}
	}
	if r.refresh <= 0 {
		r.refresh = 5 * time.Minute
	}
	if r.minInterval <= 0 {
		r.minInterval = 10 * time.Second
	}
	if r.minInterval > r.refresh {
		r.minInterval = r.refresh
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// KeySet returns the cached keys, fetching them when there are none yet
// or when missing says a token named a key the set lacks.
func (r *RemoteKeys) KeySet(missing bool) (*KeySet, error) {
	ks := r.cur.Load()
	if ks != nil && !missing {
		// The hot path takes no lock: a fetch in progress holds mu.
		stale := r.now().UnixNano()-r.fetchedAt.Load() >= int64(r.refresh)
		if stale && r.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer r.refreshing.Store(false)
				_, _ = r.fetch()
			}()
		}
		return ks, nil
	}
	fresh, err := r.fetch()
	if fresh != nil {
		return fresh, nil
	}
	if ks != nil {
		return ks, nil
	}
	return nil, err
}

// fetch gets the key set unless a fetch started less than minInterval
// ago, in which case it returns what is cached and that fetch's error.
func (r *RemoteKeys) fetch() (*KeySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.triedAt.IsZero() && now.Sub(r.triedAt) < r.minInterval {
		return r.cur.Load(), r.lastErr
	}
	r.triedAt = now
	ks, err := r.get()
	if err != nil {
		r.lastErr = fmt.Errorf("%w: %v", ErrKeys, err)
		r.logger.Warn("jwt: fetching the key set failed; keeping the last good one", "url", r.url, "err", err)
		return r.cur.Load(), r.lastErr
	}
	r.lastErr = nil
	r.fetchedAt.Store(now.UnixNano())
	r.cur.Store(ks)
	return ks, nil
}

func (r *RemoteKeys) get() (*KeySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSSize))
		return nil, fmt.Errorf("GET %s: status %d", r.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", r.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", r.url, maxJWKSSize)
	}
	return ParseJWKS(body)
}

// checkKeySet verifies the signature with the key the header names, or
// with each key of the header's algorithm when it names none.
func (v *Verifier) checkKeySet(h header, signed string, sig []byte) error {
	switch h.Alg {
	case RS256, ES256, EdDSA:
	default:
		return fmt.Errorf("%w %q: a key set verifies RS256, ES256 and EdDSA", ErrAlgorithm, h.Alg)
	}
	ks, err := v.keys.KeySet(false)
	if err != nil {
		return err
	}
	if h.Kid != "" {
		k, ok := ks.byKid[h.Kid]
		if !ok {
			if ks, err = v.keys.KeySet(true); err != nil {
				return err
			}
			if k, ok = ks.byKid[h.Kid]; !ok {
				return fmt.Errorf("%w: kid %q is not in the key set", ErrNoKey, h.Kid)
			}
		}
		if k.alg != h.Alg {
			return fmt.Errorf("%w %q: key %q is for %s", ErrAlgorithm, h.Alg, h.Kid, k.alg)
		}
		return k.check(signed, sig)
	}
	tried := false
	for _, k := range ks.keys {
		if k.alg != h.Alg {
			continue
		}
		tried = true
		if k.check(signed, sig) == nil {
			return nil
		}
	}
	if !tried {
		return fmt.Errorf("%w: no %s key in the key set", ErrNoKey, h.Alg)
	}
	return ErrSignature
}
