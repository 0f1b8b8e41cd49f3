// Package jwt verifies compact JSON Web Tokens (JWS, RFC 7515/7519) signed
// with HS256, RS256, ES256 or EdDSA (Ed25519), and returns their claims. It
// checks the signature, the algorithm the key was configured for, and the
// exp, nbf, iss and aud claims; what the claims mean is left to the
// policies that read them. Keys come from a secret, a PEM public key, or a
// JSON Web Key Set (RFC 7517) read once or fetched from a URL and
// refreshed.
//
// It is written on the standard library rather than a JWT module: a
// verifier needs four algorithms and no token creation, so a few hundred
// lines keep the dependency list short and let the hot path decode the
// claims with one pass and no reflection beyond encoding/json.
package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Algorithms a Verifier accepts, as written in a token's alg header.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Errors returned by Verify. They are wrapped with detail.
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("bad signature")
	ErrAlgorithm = errors.New("unexpected algorithm")
	ErrExpired   = errors.New("token expired")
	ErrNotYet    = errors.New("token not valid yet")
	ErrIssuer    = errors.New("wrong issuer")
	ErrAudience  = errors.New("wrong audience")
	ErrNoKey     = errors.New("no key for the token")
	ErrKeys      = errors.New("signing keys unavailable")
)

// Verifier checks tokens against one key. It is immutable and safe for
// concurrent use.
type Verifier struct {
	alg      string
	secret   []byte
	rsaKey   *rsa.PublicKey
	ecKey    *ecdsa.PublicKey
	edKey    ed25519.PublicKey
	keys     KeySource // when set, keys come from a key set instead
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	cache    *cache
}

// cache remembers tokens that verified, with their expiry, so a client
// sending the same token again costs a map look-up. It holds at most max
// entries and starts afresh when full, which bounds its memory without
// bookkeeping on the hot path.
type cache struct {
	mu  sync.RWMutex
	m   map[string]cached
	max int
}

type cached struct {
	claims map[string]any
	exp    time.Time // zero when the token has no exp
}

func (c *cache) get(token string) (cached, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	return e, ok
}

func (c *cache) put(token string, e cached) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[token] = e
	c.mu.Unlock()
}

// Option adjusts a Verifier.
type Option func(*Verifier)

// WithIssuer requires the iss claim to equal iss.
func WithIssuer(iss string) Option { return func(v *Verifier) { v.issuer = iss } }

// WithAudience requires aud (a string or a list) to contain aud.
func WithAudience(aud string) Option { return func(v *Verifier) { v.audience = aud } }

// WithLeeway tolerates clock skew of d when checking exp and nbf.
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// WithCache keeps up to n tokens that verified, so a token seen again is
// not verified again until it expires. The claims of a cached token are
// shared between callers, who must not modify them.
func WithCache(n int) Option {
	return func(v *Verifier) {
		if n > 0 {
			v.cache = &cache{m: make(map[string]cached, n), max: n}
		}
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// NewHS256 returns a Verifier of HMAC-SHA256 tokens signed with secret.
func NewHS256(secret []byte, opts ...Option) (*Verifier, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("HS256 secret of %d bytes is too short: use at least 16", len(secret))
	}
	v := &Verifier{alg: HS256, secret: bytes.Clone(secret)}
	return v.apply(opts), nil
}

// NewPublicKey returns a Verifier of RS256, ES256 or EdDSA tokens, chosen
// by the PEM-encoded public key (PKIX "PUBLIC KEY", or "RSA PUBLIC KEY").
func NewPublicKey(pemData []byte, opts ...Option) (*Verifier, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM block found in the public key")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	v := &Verifier{}
	if err := v.setKey(key); err != nil {
		return nil, err
	}
	return v.apply(opts), nil
}

// NewKeySet returns a Verifier of RS256, ES256 and EdDSA tokens whose keys
// come from src: a token names its key with its kid header, and one
// without a kid is tried against every key of its algorithm.
func NewKeySet(src KeySource, opts ...Option) (*Verifier, error) {
	if src == nil {
		return nil, errors.New("no key source")
	}
	v := &Verifier{keys: src}
	return v.apply(opts), nil
}

// setKey makes v verify with the public key k, choosing the algorithm by
// the key's type.
func (v *Verifier) setKey(key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small: use at least 2048", k.N.BitLen())
		}
		v.alg, v.rsaKey = RS256, k
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return fmt.Errorf("EC key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		v.alg, v.ecKey = ES256, k
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		v.alg, v.edKey = EdDSA, k
	default:
		return fmt.Errorf("unsupported public key type %T: use RSA, EC P-256 or Ed25519", key)
	}
	return nil
}

func (v *Verifier) apply(opts []Option) *Verifier {
	v.now = time.Now
	for _, o := range opts {
		o(v)
	}
	return v
}

// Algorithm returns the algorithm the Verifier accepts; empty when its
// keys come from a key set, where each key has its own.
func (v *Verifier) Algorithm() string { return v.alg }

// header is the part of the JOSE header the verifier reads.
type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// Verify checks token and returns its claims. The error says why a token
// is refused.
func (v *Verifier) Verify(token string) (map[string]any, error) {
	if v.cache != nil {
		if e, ok := v.cache.get(token); ok && (e.exp.IsZero() || v.now().Before(e.exp.Add(v.leeway))) {
			return e.claims, nil
		}
	}
	claims, err := v.verify(token)
	if err != nil || v.cache == nil {
		return claims, err
	}
	exp, _, _ := numericDate(claims, "exp")
	v.cache.put(token, cached{claims: claims, exp: exp})
	return claims, nil
}

func (v *Verifier) verify(token string) (map[string]any, error) {
	h64, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	c64, s64, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(s64, '.') >= 0 {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	var h header
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if v.keys == nil && h.Alg != v.alg {
		return nil, fmt.Errorf("%w %q: the key is for %s", ErrAlgorithm, h.Alg, v.alg)
	}
	if len(h.Crit) > 0 {
		return nil, fmt.Errorf("%w: critical header extensions %v are not understood", ErrMalformed, h.Crit)
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	signed := token[:len(h64)+1+len(c64)]
	if v.keys != nil {
		err = v.checkKeySet(h, signed, sig)
	} else {
		err = v.check(signed, sig)
	}
	if err != nil {
		return nil, err
	}
	claimsJSON, err := base64.RawURLEncoding.DecodeString(c64)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(claimsJSON, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	}
	if err := v.validate(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func (v *Verifier) check(signed string, sig []byte) error {
	switch v.alg {
	case HS256:
		mac := hmac.New(sha256.New, v.secret)
		mac.Write([]byte(signed))
		if !hmac.Equal(mac.Sum(nil), sig) {
			return ErrSignature
		}
	case RS256:
		sum := sha256.Sum256([]byte(signed))
		if err := rsa.VerifyPKCS1v15(v.rsaKey, crypto.SHA256, sum[:], sig); err != nil {
			return ErrSignature
		}
	case ES256:
		// JWS carries r and s as two fixed-size big-endian halves, not ASN.1.
		if len(sig) != 64 {
			return fmt.Errorf("%w: ES256 signature of %d bytes, want 64", ErrSignature, len(sig))
		}
		sum := sha256.Sum256([]byte(signed))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(v.ecKey, sum[:], r, s) {
			return ErrSignature
		}
	case EdDSA:
		if !ed25519.Verify(v.edKey, []byte(signed), sig) {
			return ErrSignature
		}
	}
	return nil
}

func (v *Verifier) validate(claims map[string]any) error {
	now := v.now()
	if exp, ok, err := numericDate(claims, "exp"); err != nil {
		return err
	} else if ok && !now.Before(exp.Add(v.leeway)) {
		return fmt.Errorf("%w at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return err
	} else if ok && now.Add(v.leeway).Before(nbf) {
		return fmt.Errorf("%w: not before %s", ErrNotYet, nbf.UTC().Format(time.RFC3339))
	}
	if v.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.issuer {
			return fmt.Errorf("%w %q", ErrIssuer, iss)
		}
	}
	if v.audience != "" && !hasAudience(claims["aud"], v.audience) {
		return fmt.Errorf("%w: %v does not include %q", ErrAudience, claims["aud"], v.audience)
	}
	return nil
}

func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return time.Time{}, false, nil
	}
	f, ok := raw.(float64)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, _ := x.(string); s == want {
				return true
			}
		}
	}
	return false
}
