package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve builds an app from o (no login limit, a random secret unless set) and serves its routes;
// it returns the app and the server's base URL.
func serve(t *testing.T, o Options) (*App, string) {
	t.Helper()
	o.Logger, o.LoginPerMinute = quiet, -1
	if o.Secret == nil {
		o.Secret, _ = Secret("")
	}
	a, err := New(t.Context(), o)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	r := chi.NewRouter()
	a.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return a, srv.URL
}

const signup = `{"username":"alice","display_name":"Alice","password":"correct horse"}`

func TestPartsServeTheirRoutes(t *testing.T) {
	web := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		name                 string
		o                    Options
		signup, ws, webIndex int
	}{
		{"one process", Options{API: true, Gateway: true, Web: web}, http.StatusCreated, http.StatusUpgradeRequired, http.StatusTeapot},
		{"api only", Options{API: true}, http.StatusCreated, http.StatusNotFound, http.StatusNotFound},
		{"gateway only", Options{Gateway: true}, http.StatusNotFound, http.StatusUpgradeRequired, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, base := serve(t, c.o)
			apitest.Call(t, http.MethodPost, base+"/v1/signup", "", signup, nil, c.signup)
			apitest.Call(t, http.MethodGet, base+"/ws", "", nil, nil, c.ws) // a plain GET is not an upgrade
			apitest.Call(t, http.MethodGet, base+"/", "", nil, nil, c.webIndex)
			assert.Empty(t, a.Checks(), "nothing external to check in memory")
			assert.Equal(t, c.o.Gateway, a.Bus != nil, "an API-only process without Redis publishes nowhere")
		})
	}
	_, err := New(context.Background(), Options{Secret: make([]byte, 32)})
	assert.ErrorContains(t, err, "nothing to serve")
	_, err = New(context.Background(), Options{API: true, Secret: []byte("short")})
	assert.Error(t, err, "the token secret is checked")
}

func TestOnPostgresAndRedis(t *testing.T) {
	db := testkit.Postgres(t)
	rdb := testkit.Redis(t)
	a, base := serve(t, Options{API: true, Gateway: true, DatabaseURL: db.URL, Migrate: true, RedisURL: rdb.URL,
		KeyPrefix: rdb.Prefix})
	bus, ok := a.Bus.(*redisbus.Bus)
	require.True(t, ok, "the bus is Redis pub/sub")
	assert.Equal(t, rdb.Prefix+"chat:v2:x", bus.Channel("x"), "channels carry the key prefix and the wire format's version")
	n, err := rdb.Client.Exists(t.Context(), rdb.Prefix+"chat:notify").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the notification stream carries the key prefix")
	var names []string
	for _, c := range a.Checks() {
		names = append(names, c.Name)
		require.NoError(t, c.Fn(t.Context()), c.Name)
	}
	assert.ElementsMatch(t, []string{"postgres", "redis"}, names)
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", signup, nil, http.StatusCreated)
	var users int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&users))
	assert.Equal(t, 1, users, "migrated and stored in PostgreSQL")
}

func TestSecret(t *testing.T) {
	s, random := Secret("0123456789abcdef0123456789abcdef")
	assert.False(t, random)
	assert.Equal(t, "0123456789abcdef0123456789abcdef", string(s))
	a, random := Secret("")
	b, _ := Secret("")
	assert.True(t, random)
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
}
