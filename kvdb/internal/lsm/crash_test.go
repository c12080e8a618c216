package lsm

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/stretchr/testify/require"
)

// Crash safety: a child process (this test binary re-executed) writes with SyncAlways from
// several goroutines and prints "ack <key>" only after Put returned; the parent SIGKILLs it at a
// random moment, reopens the directory and checks that every acknowledged write survived.
// Memtables are tiny, so kills land in the middle of WAL appends, memtable rotations, flushes,
// compactions, MANIFEST writes and recovery itself.

const (
	crashDirEnv   = "LSM_CRASH_CHILD_DIR"
	crashCycleEnv = "LSM_CRASH_CHILD_CYCLE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashCycleEnv))
		return
	}
	os.Exit(m.Run())
}

func crashOptions() Options {
	return Options{
		Sync:                wal.SyncAlways,
		MemtableSize:        16 << 10,
		TargetFileSize:      8 << 10,
		LevelSizeBase:       32 << 10,
		L0CompactionTrigger: 2,
		BlockSize:           512,
	}
}

func crashValue(key string) []byte { return []byte(strings.Repeat(key+";", 4)) }

func crashChild(dir, cycle string) {
	db, err := Open(dir, crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format, args...) // unbuffered: one write(2) per line
		mu.Unlock()
	}
	say("ready\n")
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("c%s-g%d-%06d", cycle, g, i)
				if i%10 == 9 { // delete an earlier key of ours, in a batch with a put
					old := fmt.Sprintf("c%s-g%d-%06d", cycle, g, i-5)
					// The delete may commit without its ack reaching the parent: announce it first.
					say("try-del %s\n", old)
					var b Batch
					b.Delete([]byte(old))
					b.Put([]byte(key), crashValue(key))
					if err := db.Write(&b); err != nil {
						fmt.Fprintln(os.Stderr, "write:", err)
						os.Exit(3)
					}
					say("del %s\nack %s\n", old, key)
					continue
				}
				if err := db.Put([]byte(key), crashValue(key)); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(3)
				}
				say("ack %s\n", key)
			}
		}()
	}
	select {}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 50 processes")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	const cycles = 50
	// Acknowledged writes: true = present, false = deleted. A key whose delete was attempted but
	// not acknowledged may be either, so it leaves the map.
	state := map[string]bool{}
	totalAcks, duringOpen := 0, 0
	var shape string
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%03d", crashCycleEnv, cycle))
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a line without its newline was cut by the kill: not an ack
				}
				lines <- strings.TrimSuffix(line, "\n")
			}
		}()
		var got []string
		killAt := time.Now().Add(time.Duration(5+rng.IntN(76)) * time.Millisecond)
		if rng.IntN(5) == 0 {
			// Kill during Open/recovery: counted from the start of the process.
			duringOpen++
		} else {
			// Wait for the child to be up, then kill 5-80 ms into its writes.
			select {
			case l, ok := <-lines:
				require.True(t, ok, "child exited: %s", stderr.String())
				require.Equal(t, "ready", l)
			case <-time.After(20 * time.Second):
				t.Fatal("child did not start")
			}
			killAt = time.Now().Add(time.Duration(5+rng.IntN(76)) * time.Millisecond)
		}
		time.Sleep(time.Until(killAt))
		require.NoError(t, cmd.Process.Kill())
		for l := range lines {
			got = append(got, l)
		}
		_ = cmd.Wait()
		require.NotContains(t, stderr.String(), "open:", "child could not open the DB")

		cycleAcks := map[string]bool{}
		for _, l := range got {
			switch {
			case strings.HasPrefix(l, "ack "):
				state[l[4:]] = true
				cycleAcks[l[4:]] = true
				totalAcks++
			case strings.HasPrefix(l, "try-del "):
				delete(state, l[8:])
				delete(cycleAcks, l[8:])
			case strings.HasPrefix(l, "del "):
				state[l[4:]] = false
				cycleAcks[l[4:]] = false
			}
		}

		db, err := Open(dir, crashOptions())
		require.NoError(t, err, "cycle %d: reopen after kill", cycle)
		check := cycleAcks
		if cycle%10 == 9 || cycle == cycles-1 {
			check = state
		}
		for k, present := range check {
			v, err := db.Get([]byte(k))
			if present {
				require.NoError(t, err, "cycle %d: acknowledged key %s lost", cycle, k)
				require.Equal(t, crashValue(k), v, "cycle %d: key %s", cycle, k)
			} else {
				require.ErrorIs(t, err, ErrNotFound, "cycle %d: acknowledged delete of %s lost", cycle, k)
			}
		}
		m := db.Metrics()
		shape = fmt.Sprint(levelShape(m))
		require.NoError(t, db.Close())
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	t.Logf("%d kill/restart cycles (%d killed during open), %d acknowledged writes, none lost; final tables per level %s (%d files)",
		cycles, duringOpen, totalAcks, shape, len(ssts))
	require.Greater(t, totalAcks, cycles*5)
}

// lockedBuffer collects the child's stderr, which the exec package copies in a goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func levelShape(m Metrics) []int {
	var s []int
	for _, l := range m.Levels {
		s = append(s, l.Tables)
	}
	return s
}

// flipByte XORs one byte of a file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func newestFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files[len(files)-1] // zero-padded numbers sort by creation
}

func TestCorruptWAL(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		opts := smallOptions()
		opts.MemtableSize = 1 << 20
		db, err := Open(dir, opts)
		require.NoError(t, err)
		for i := range 200 {
			require.NoError(t, db.Put([]byte(fmt.Sprintf("k%03d", i)), bytes.Repeat([]byte{'v'}, 20)))
		}
		require.NoError(t, db.Close())
		return dir, newestFile(t, dir, "*.log")
	}
	t.Run("corrupt middle is an error", func(t *testing.T) {
		t.Parallel()
		dir, log := write(t)
		st, err := os.Stat(log)
		require.NoError(t, err)
		flipByte(t, log, st.Size()/2)
		_, err = Open(dir, smallOptions())
		require.ErrorIs(t, err, ErrCorrupt)
		// The damaged log is kept for inspection, not deleted.
		_, err = os.Stat(log)
		require.NoError(t, err)
	})
	t.Run("torn tail is cut", func(t *testing.T) {
		t.Parallel()
		dir, log := write(t)
		st, err := os.Stat(log)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(log, st.Size()-3))
		db, err := Open(dir, smallOptions())
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Get([]byte("k199"))
		require.ErrorIs(t, err, ErrNotFound, "the torn record is dropped")
		v, err := db.Get([]byte("k198"))
		require.NoError(t, err)
		require.Len(t, v, 20)
	})
}

func TestCorruptSSTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		off  func(size int64) int64
	}{
		{"first data block", func(int64) int64 { return 20 }},
		{"middle", func(size int64) int64 { return size / 2 }},
		{"index or filter", func(size int64) int64 { return size - 200 }},
		{"footer", func(size int64) int64 { return size - 20 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db, err := Open(dir, smallOptions())
			require.NoError(t, err)
			const n = 400
			for i := range n {
				require.NoError(t, db.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprintf("value-%04d", i))))
			}
			require.NoError(t, db.Compact())
			require.NoError(t, db.Close())
			sst := newestFile(t, dir, "*.sst")
			st, err := os.Stat(sst)
			require.NoError(t, err)
			flipByte(t, sst, tc.off(st.Size()))

			db, err = Open(dir, smallOptions())
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				return
			}
			defer db.Close()
			corrupt := 0
			for i := range n {
				v, err := db.Get([]byte(fmt.Sprintf("k%04d", i)))
				if err != nil {
					require.ErrorIs(t, err, ErrCorrupt, "key %d: only a corruption error is acceptable", i)
					corrupt++
					continue
				}
				require.Equal(t, fmt.Sprintf("value-%04d", i), string(v), "never a wrong value")
			}
			require.Positive(t, corrupt, "the damage must be reported")
			it := db.NewIterator(IterOptions{})
			for ok := it.First(); ok; ok = it.Next() {
				require.True(t, bytes.HasPrefix(it.Value(), []byte("value-")))
			}
			require.ErrorIs(t, it.Close(), ErrCorrupt)
		})
	}
}
