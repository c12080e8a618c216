// Package defaults holds the built-in rules the services use when RULES_PATH is unset, so the
// embedded default runs with no file and no external service.
package defaults

import "embed"

// Rules is the rules directory (one domain per file): `proxy` for the reverse proxy's default
// descriptors and `demo`, one rule per algorithm, for trying the API by hand and for `make demo`.
//
//go:embed rules/*.yaml
var Rules embed.FS
