// Package resp serves the key-value store over the Redis protocol (RESP2), so that redis-cli,
// redis-benchmark and every Redis client library can talk to kvdb.
//
// RESP is a line-oriented, length-prefixed protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/).
// A client sends each command as an array of bulk strings:
//
//	*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n
//
// or, from a terminal, as one "inline" line of space-separated words (`SET key value\r\n`).
// The server answers with simple strings (+OK), errors (-ERR ...), integers (:1), bulk strings
// ($5\r\nvalue, $-1 for nil) and arrays (*2 ..., *-1 for nil).
//
// The package has three parts:
//
//   - Reader and Writer: the wire format. The Reader enforces limits on every length prefix before
//     it trusts it, and grows buffers only as bytes actually arrive, so a hostile "$999999999"
//     costs nothing. The Writer buffers replies; the server flushes them only when it has consumed
//     everything the client sent, so a pipeline of N requests is answered by one write(2), the way
//     Redis answers one read event.
//   - Server: one goroutine per connection running the commands against a Store, with
//     Prometheus metrics, slog logging and graceful shutdown.
//   - Store: the small interface the commands need, with MemStore as the in-memory reference
//     implementation (and package storetest as the contract suite every Store must pass).
//
// Redis semantics worth knowing when reading the command code: expiry is absolute time (SET EX
// and EXPIRE are converted with the server clock); SCAN cursors are numbers because redis-cli and
// go-redis parse them as unsigned integers, so the server keeps a bounded table from cursor number
// to "the last key returned" and the Store only has to answer "keys after K".
package resp
