package resp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
)

// failingBatchStore is a MemStore whose SET batches fail to commit, like an engine gone
// read-only.
type failingBatchStore struct{ *resp.MemStore }

func (s failingBatchStore) NewSetBatch() resp.SetBatch { return &failingBatch{} }

type failingBatch struct{ n int }

func (b *failingBatch) Set([]byte, []byte, time.Time) { b.n++ }
func (b *failingBatch) Size() int                     { return b.n }
func (b *failingBatch) Commit() error                 { b.n = 0; return errors.New("disk full") }

// When the commit of a pipeline's SETs fails, every one of them gets the error, in its place,
// and the commands after them still run.
func TestPipelinedSetsShareTheCommitError(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, failingBatchStore{resp.NewMemStore(nil)})
	r := ts.raw(t)
	r.send("SET a 1\r\nSET b 2\r\nGET a\r\nSET c 3 NX\r\nSET d 4\r\n")
	// SET c NX does not batch (it reads first) and SET d is the last command received.
	r.expect("-ERR disk full\r\n-ERR disk full\r\n$-1\r\n+OK\r\n+OK\r\n")
	r.send("SET e 5\r\nSET f 6\r\n*3\r\n$3\r\nSET\r\n$1\r\ng\r\n$x\r\n")
	r.expect("-ERR disk full\r\n-ERR disk full\r\n-ERR Protocol error: invalid bulk length\r\n")
	r.expectClosed()
}
