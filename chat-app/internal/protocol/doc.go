// Package protocol defines the chat WebSocket wire protocol: the JSON text
// frames a client and the gateway exchange, a strict decoder for client
// frames, encoders for server frames (with an allocation-free path for the
// message fan-out), and the protocol's error and close codes.
//
// The normative description, including the sync algorithm that gives
// exactly-once, in-order delivery across reconnects, is docs/protocol.md.
// The package stands alone: it imports no domain, transport or store package,
// so the gateway, test clients and load generators can all share it.
package protocol
