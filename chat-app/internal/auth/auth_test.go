package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func tokens(t *testing.T, now func() time.Time) *auth.Tokens {
	t.Helper()
	tk, err := auth.NewTokens(secret, time.Hour, now)
	require.NoError(t, err)
	return tk
}

func TestNewTokensRejectsWeakSettings(t *testing.T) {
	_, err := auth.NewTokens([]byte("short"), time.Hour, nil)
	assert.ErrorContains(t, err, "at least 32")
	_, err = auth.NewTokens(secret, 0, nil)
	assert.Error(t, err)
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	c := newClock(time.Date(2026, 3, 1, 12, 0, 0, 500e6, time.UTC))
	tk := tokens(t, c.Now)
	const user = int64(7311740512930889000) // above 2^53: survives as a decimal string
	tok, exp, err := tk.Issue(user)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), exp, "whole seconds, ttl after issue")
	got, gotExp, err := tk.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, user, got)
	assert.True(t, exp.Equal(gotExp))

	_, _, err = tk.Issue(0)
	assert.Error(t, err)
}

func TestExpiredToken(t *testing.T) {
	c := newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	tk := tokens(t, c.Now)
	tok, _, err := tk.Issue(42)
	require.NoError(t, err)
	c.Add(59 * time.Minute)
	_, _, err = tk.Verify(tok)
	require.NoError(t, err, "still valid before exp")
	c.Add(2 * time.Minute)
	_, _, err = tk.Verify(tok)
	assert.ErrorIs(t, err, auth.ErrExpired)
	assert.NotErrorIs(t, err, auth.ErrInvalidToken)
}

// sign builds a token by hand, so the test can forge what Issue never makes.
func sign(t *testing.T, header, claims string, key []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(in))
	return in + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerifyRejectsForgedTokens(t *testing.T) {
	c := newClock(time.Now())
	tk := tokens(t, c.Now)
	exp := c.Now().Add(time.Hour).Unix()
	claims := func(sub string) string {
		return `{"sub":"` + sub + `","iat":` + itoa(c.Now().Unix()) + `,"exp":` + itoa(exp) + `}`
	}
	hs256 := `{"alg":"HS256","typ":"JWT"}`

	valid := sign(t, hs256, claims("42"), secret)
	user, _, err := tk.Verify(valid)
	require.NoError(t, err, "the hand-made token is well formed")
	require.Equal(t, int64(42), user)

	other, err := auth.NewTokens([]byte(strings.Repeat("x", 32)), time.Hour, c.Now)
	require.NoError(t, err)
	otherTok, _, err := other.Issue(42)
	require.NoError(t, err)

	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{
		Subject: "42", ExpiresAt: jwt.NewNumericDate(time.Unix(exp, 0)),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	parts := strings.Split(valid, ".")
	cases := map[string]string{
		"alg none":               noneTok,
		"alg HS512 with our key": sign512(t, c.Now().Unix(), exp),
		"alg RS256 header":       sign(t, `{"alg":"RS256","typ":"JWT"}`, claims("42"), secret),
		"another secret":         otherTok,
		"tampered claims":        parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims("43"))) + "." + parts[2],
		"missing sub":            sign(t, hs256, `{"iat":1,"exp":`+itoa(exp)+`}`, secret),
		"non-numeric sub":        sign(t, hs256, claims("alice"), secret),
		"zero sub":               sign(t, hs256, claims("0"), secret),
		"leading zero sub":       sign(t, hs256, claims("042"), secret),
		"missing exp":            sign(t, hs256, `{"sub":"42"}`, secret),
		"garbage":                "not.a.token",
		"empty":                  "",
		"issued in the future":   sign(t, hs256, `{"sub":"42","iat":`+itoa(exp)+`,"exp":`+itoa(exp+10)+`}`, secret),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := tk.Verify(tok)
			assert.ErrorIs(t, err, auth.ErrInvalidToken)
		})
	}
}

func sign512(t *testing.T, iat, exp int64) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "42", "iat": iat, "exp": exp}).SignedString(secret)
	require.NoError(t, err)
	return s
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestPasswords(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$2a$10$"), "bcrypt at cost %d: %s", auth.BcryptCost, h)
	assert.NoError(t, auth.CheckPassword(h, "correct horse"))
	assert.ErrorIs(t, auth.CheckPassword(h, "wrong horse"), auth.ErrWrongPassword)
	assert.NotErrorIs(t, auth.CheckPassword("not a hash", "x"), auth.ErrWrongPassword)

	long := strings.Repeat("a", auth.MaxPasswordBytes)
	h, err = auth.HashPassword(long)
	require.NoError(t, err)
	assert.ErrorIs(t, auth.CheckPassword(h, long+"b"), auth.ErrWrongPassword, "bcrypt would ignore byte 73")
	_, err = auth.HashPassword(long + "b")
	assert.ErrorIs(t, err, auth.ErrWeakPassword)
}

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"1234567":               false,
		"12345678":              true,
		"ééééééé":               false, // 7 characters, 14 bytes
		"éééééééé":              true,
		strings.Repeat("a", 72): true,
		strings.Repeat("a", 73): false,
		"abcdefg\xff":           false,
	} {
		err := auth.ValidatePassword(pw)
		if ok {
			assert.NoError(t, err, pw)
		} else {
			assert.ErrorIs(t, err, auth.ErrWeakPassword, pw)
		}
	}
}
