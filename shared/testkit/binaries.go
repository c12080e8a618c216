package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Chromium returns the path of a Chromium binary: CHROMIUM_PATH, else the first of chromium,
// chromium-browser, google-chrome found in PATH.
func Chromium(t testing.TB) string {
	t.Helper()
	return binary(t, "CHROMIUM_PATH", "chromium", []string{"chromium", "chromium-browser", "google-chrome"})
}

// FFmpeg returns the path of ffmpeg: FFMPEG_PATH, else ffmpeg found in PATH.
func FFmpeg(t testing.TB) string {
	t.Helper()
	return binary(t, "FFMPEG_PATH", "ffmpeg", []string{"ffmpeg"})
}

// binary finds an executable by env var or in PATH, applying the absent-backend policy when
// there is none.
func binary(t testing.TB, envVar, aptPackage string, names []string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if err := executable(p); err != nil {
			Unavailable(t, "%s=%q is not usable: %v.\nFix %s, or unset it to search PATH for %s.",
				envVar, p, err, envVar, strings.Join(names, ", "))
			return ""
		}
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Unavailable(t, "%s not found: none of %s is in PATH=%q.\nInstall it with: apt-get install -y %s\nor set %s to the binary.",
		names[0], strings.Join(names, ", "), os.Getenv("PATH"), aptPackage, envVar)
	return ""
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not an executable file (mode %v)", fi.Mode())
	}
	return nil
}
