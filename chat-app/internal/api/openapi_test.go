package api_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// The OpenAPI document must list exactly the routes the server serves and exactly the JSON
// fields of the wire types, so it cannot drift from the code.
func TestOpenAPIMatchesCode(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpx.New(httpx.Options{Logger: logger})
	require.NoError(t, err)
	tokens, err := auth.NewTokens(make([]byte, 32), time.Hour, nil)
	require.NoError(t, err)
	a, err := api.New(api.Options{Store: memStore(t), Tokens: tokens, Logger: logger})
	require.NoError(t, err)
	a.Routes(srv.Router())
	testkit.CheckOpenAPI(t, testkit.OpenAPI{Spec: "../../docs/openapi.yaml", Routes: srv.Router(),
		Schemas: map[string]any{
			"SignupRequest": api.SignupRequest{}, "LoginRequest": api.LoginRequest{}, "AuthResponse": api.AuthResponse{},
			"User": api.User{}, "AddContactRequest": api.AddContactRequest{}, "ContactsResponse": api.ContactsResponse{},
			"Conversation": api.Conversation{}, "ConversationsResponse": api.ConversationsResponse{},
			"DirectRequest": api.DirectRequest{}, "GroupRequest": api.GroupRequest{}, "Member": api.Member{},
			"MembersResponse": api.MembersResponse{}, "AddMemberRequest": api.AddMemberRequest{},
			"Message": api.Message{}, "MessagesResponse": api.MessagesResponse{}, "SendRequest": api.SendRequest{},
			"PushKeyResponse": api.PushKeyResponse{}, "PushSubscriptionRequest": api.PushSubscriptionRequest{},
			"PushKeys": api.PushKeys{}, "PushUnsubscribeRequest": api.PushUnsubscribeRequest{},
			"Problem": httpx.Problem{},
		}})
}
