package main

// scenarios holds one entry per built system. A system's issue adds its own here, e.g.
//
//	{System: "kvdb", Run: kvdbDemo}, // in kvdb.go beside this file
//
// A scenario runs on the system's embedded defaults (no external service), finishes in under
// 30 seconds, reports its steps through env.Progress, and stops every process it started.
var scenarios = []Scenario{
	{System: "rate-limiter", Run: rateLimiterDemo},
	{System: "kvdb", Run: kvdbDemo},
	{System: "chat-app", Run: chatAppDemo},
}
