package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
)

// inspect dumps a data directory (its files in order: MANIFEST, WALs, tables) or one file, chosen
// by name. It opens files read-only and never takes the directory's lock, so it works beside a
// running server (a table is immutable once written; a live WAL may end in a torn record, which
// the dump reports as its end).
func inspect(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: kvctl inspect PATH (a data directory, or a .sst, .log or MANIFEST file)")
	}
	path := args[0]
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return inspectFile(path, stdout)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	var files []string
	for _, e := range entries {
		if kind(e.Name()) != "" {
			files = append(files, e.Name())
		}
	}
	order := map[string]int{"manifest": 0, "wal": 1, "sstable": 2}
	slices.SortFunc(files, func(a, b string) int {
		if d := order[kind(a)] - order[kind(b)]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(stdout, "%s: %d files\n", path, len(files))
	for _, f := range files {
		fmt.Fprintf(stdout, "\n=== %s (%s) ===\n", f, kind(f))
		if err := inspectFile(filepath.Join(path, f), stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", f, err) // keep going: one bad file should not hide the rest
		}
	}
	return nil
}

func kind(name string) string {
	switch {
	case strings.HasPrefix(name, "MANIFEST-"):
		return "manifest"
	case strings.HasSuffix(name, ".log"):
		return "wal"
	case strings.HasSuffix(name, ".sst"):
		return "sstable"
	}
	return ""
}

func inspectFile(path string, w io.Writer) error {
	switch kind(filepath.Base(path)) {
	case "manifest":
		return lsm.DumpManifest(w, path)
	case "wal":
		return lsm.DumpWAL(w, path)
	case "sstable":
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		return sstable.Dump(w, f, st.Size())
	}
	return fmt.Errorf("%s: not a kvdb file (want MANIFEST-*, *.log or *.sst)", path)
}
