package testkit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fakeExecutable(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	return p
}

func TestBinaries(t *testing.T) {
	t.Setenv("CI", "")
	for _, tc := range []struct {
		find       func(testing.TB) string
		envVar     string
		name       string // found in PATH
		aptPackage string
	}{
		{Chromium, "CHROMIUM_PATH", "chromium", "chromium"},
		{Chromium, "CHROMIUM_PATH", "google-chrome", "chromium"},
		{FFmpeg, "FFMPEG_PATH", "ffmpeg", "ffmpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.envVar, "")
			dir := t.TempDir()
			want := fakeExecutable(t, dir, tc.name)
			t.Setenv("PATH", dir)
			rec := &recordingTB{TB: t}
			assert.Equal(t, want, tc.find(rec), "found in PATH")
			assert.Empty(t, rec.skipped+rec.fatal)

			other := fakeExecutable(t, t.TempDir(), "custom")
			t.Setenv(tc.envVar, other)
			rec = &recordingTB{TB: t}
			assert.Equal(t, other, tc.find(rec), "the variable wins over PATH")
			assert.Empty(t, rec.skipped+rec.fatal)

			notExec := filepath.Join(t.TempDir(), "plain")
			require.NoError(t, os.WriteFile(notExec, nil, 0o644))
			t.Setenv(tc.envVar, notExec)
			rec = &recordingTB{TB: t}
			tc.find(rec)
			assert.Contains(t, rec.skipped, tc.envVar)

			t.Setenv(tc.envVar, "")
			t.Setenv("PATH", "")
			var sub *testing.T
			t.Run("want_skip", func(t *testing.T) {
				sub = t
				tc.find(t)
				t.Error("returned although the binary is absent")
			})
			assert.True(t, sub.Skipped(), "absent binary did not skip")

			t.Setenv("CI", "true")
			rec = &recordingTB{TB: t}
			tc.find(rec)
			assert.Contains(t, rec.fatal, "apt-get install -y "+tc.aptPackage)
			assert.Contains(t, rec.fatal, tc.envVar)
			t.Setenv("CI", "")
		})
	}
}
