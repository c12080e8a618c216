//go:build nolsm

package bench

import "fmt"

// errNoLSM is what opening our engine returns in a build without its adapter.
var errNoLSM = fmt.Errorf("built with -tags nolsm: our engine's adapter (engine_lsm.go) is left out: %w", ErrNotBuilt)

// oursEngine keeps the column of our engine in the report, marked as not run, so that a table
// of the peers alone is never mistaken for a comparison.
func oursEngine() EngineInfo {
	return EngineInfo{
		Name:   Ours,
		Open:   func(string, Options) (Engine, error) { return nil, errNoLSM },
		Config: "ours: not built (-tags nolsm)",
	}
}
