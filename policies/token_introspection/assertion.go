package tokenintrospection

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// assertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523, section 2.2).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertion signs the JWT a client presents instead of a password
// (OpenID Connect Core, section 9: client_secret_jwt and
// private_key_jwt). It is immutable and safe for concurrent use.
type assertion struct {
	clientID string
	audience string
	lifetime time.Duration
	// Exactly one of secret (HS256) and key (RS256) is set.
	secret []byte
	key    *rsa.PrivateKey
	// header is the encoded JOSE header, the same for every assertion.
	header string
}

func newSecretAssertion(clientID, audience string, lifetime time.Duration, secret string) *assertion {
	return &assertion{clientID: clientID, audience: audience, lifetime: lifetime, secret: []byte(secret),
		header: b64.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`))}
}

func newKeyAssertion(clientID, audience string, lifetime time.Duration, key *rsa.PrivateKey) *assertion {
	return &assertion{clientID: clientID, audience: audience, lifetime: lifetime, key: key,
		header: b64.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256"}`))}
}

var b64 = base64.RawURLEncoding

// sign returns a fresh assertion issued at now, with its own jti, so a
// provider that remembers jti values accepts each one once.
func (a *assertion) sign(now time.Time) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("client assertion jti: %w", err)
	}
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Jti string `json:"jti"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
	}{a.clientID, a.clientID, a.audience, hex.EncodeToString(id[:]), now.Add(a.lifetime).Unix(), now.Unix()})
	if err != nil {
		return "", fmt.Errorf("client assertion claims: %w", err)
	}
	signed := a.header + "." + b64.EncodeToString(claims)
	var sig []byte
	if a.key != nil {
		sum := sha256.Sum256([]byte(signed))
		if sig, err = rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:]); err != nil {
			return "", fmt.Errorf("signing the client assertion: %w", err)
		}
	} else {
		m := hmac.New(sha256.New, a.secret)
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	}
	return signed + "." + b64.EncodeToString(sig), nil
}

// parseDataURL returns the data of an RFC 2397 data: URL, such as
// data:application/x-x509-ca-cert;name=rsa.pem;base64,LS0t...
func parseDataURL(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil, errors.New("not a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, errors.New("the data: URL has no comma before its data")
	}
	isBase64 := false
	for i, p := range strings.Split(meta, ";") {
		if i > 0 && strings.EqualFold(strings.TrimSpace(p), "base64") {
			isBase64 = true
		}
	}
	if isBase64 {
		// Padding and line breaks are common in pasted keys.
		data = strings.NewReplacer("\n", "", "\r", "", " ", "").Replace(data)
		out, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			if out, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "=")); err != nil {
				return nil, fmt.Errorf("the data: URL's base64 data does not decode: %w", err)
			}
		}
		return out, nil
	}
	out, err := url.PathUnescape(data)
	if err != nil {
		return nil, fmt.Errorf("the data: URL's data does not unescape: %w", err)
	}
	return []byte(out), nil
}

// parseRSAKey reads an RSA private key from PEM: PKCS #1 (RSA PRIVATE
// KEY) or PKCS #8 (PRIVATE KEY). Go refuses keys under 1024 bits.
func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block holding a private key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #1 key: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #8 key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the PKCS #8 key is a %T, not an RSA key (private_key_jwt signs with RS256)", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %s is not an RSA private key (RSA PRIVATE KEY or PRIVATE KEY)", strconv.Quote(block.Type))
}
