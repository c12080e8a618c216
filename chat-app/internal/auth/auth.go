// Package auth issues and verifies the bearer tokens of chat-app (HS256 JWTs whose subject is the
// user ID) and hashes passwords with bcrypt. The API service issues tokens at signup and login;
// the API and the WebSocket gateway verify them, so both need the same secret.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Errors of Verify and CheckPassword; test with errors.Is.
var (
	ErrExpired       = errors.New("token expired")
	ErrInvalidToken  = errors.New("invalid token")
	ErrWrongPassword = errors.New("wrong password")
	ErrWeakPassword  = errors.New("unacceptable password")
)

// MinSecretBytes is the shortest HMAC secret NewTokens accepts: RFC 7518 §3.2 asks for a key at
// least as long as the hash output (256 bits for HS256).
const MinSecretBytes = 32

// BcryptCost is the bcrypt work factor: 2^10 rounds take ~50-80 ms on one core, slow enough to
// make offline guessing expensive and fast enough for a login. Raise it as hardware gets faster;
// CheckPassword reads the cost from each hash, so old hashes keep working.
const BcryptCost = 10

// Password limits: bcrypt ignores everything after 72 bytes, so longer passwords are refused
// rather than silently truncated.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 72
)

// Tokens issues and verifies HS256 JWTs with sub = user ID (decimal), iat and exp.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
}

// NewTokens returns a Tokens signing with secret (at least MinSecretBytes), issuing tokens valid
// for ttl. now is the clock (nil: time.Now); tests inject one to expire tokens.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("jwt secret of %d bytes: at least %d are needed", len(secret), MinSecretBytes)
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("token ttl %s: at least 1s is needed", ttl)
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, now: now}
	t.parser = jwt.NewParser(
		// Only HS256: a token claiming "none" or an asymmetric algorithm (the classic confusion
		// where the HMAC secret is used as an RSA public key) is refused before any key is used.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
	)
	return t, nil
}

// TTL is how long issued tokens are valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed token for user and when it expires (JWT times are whole seconds).
func (t *Tokens) Issue(user int64) (string, time.Time, error) {
	if user <= 0 {
		return "", time.Time{}, fmt.Errorf("issue token: user id %d is not positive", user)
	}
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(user, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := tok.SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks token's algorithm, signature and expiry and returns its user and expiry:
// ErrExpired for an expired token, ErrInvalidToken (wrapped with the reason) for anything else.
func (t *Tokens) Verify(token string) (int64, time.Time, error) {
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, time.Time{}, ErrExpired
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	user, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || user <= 0 || claims.Subject != strconv.FormatInt(user, 10) {
		return 0, time.Time{}, fmt.Errorf("%w: subject %q is not a user id", ErrInvalidToken, claims.Subject)
	}
	return user, claims.ExpiresAt.UTC(), nil
}

// ValidatePassword checks a new password: at least MinPasswordChars characters of UTF-8 and at
// most MaxPasswordBytes bytes.
func ValidatePassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: password is not UTF-8", ErrWeakPassword)
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return fmt.Errorf("%w: password must have at least %d characters", ErrWeakPassword, MinPasswordChars)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("%w: password must have at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw at BcryptCost.
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordBytes {
		return "", fmt.Errorf("%w: password must have at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword returns nil when pw matches hash, ErrWrongPassword when it does not, and another
// error when hash is not a bcrypt hash. It takes the same time either way. A password over
// MaxPasswordBytes never matches (bcrypt would compare only its first 72 bytes).
func CheckPassword(hash, pw string) error {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || err == nil && len(pw) > MaxPasswordBytes {
		return ErrWrongPassword
	}
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	return nil
}
