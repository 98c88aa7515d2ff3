package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
)

// TestEmbeddedKeepsFewWALFiles: the embedded etcd keeps WALFilesKept WAL
// files, not etcd's default 5, so that a start reads less; the data
// survives the purge. WAL segments are made 1 MB for the test (64 MB in
// production) so that a few MB of writes fill several.
func TestEmbeddedKeepsFewWALFiles(t *testing.T) {
	old := wal.SegmentSizeBytes
	wal.SegmentSizeBytes = 1 << 20
	t.Cleanup(func() { wal.SegmentSizeBytes = old })
	dir := t.TempDir()
	open := func() *Store {
		t.Helper()
		s, _ := openEmbedded(t, Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		return s
	}
	walFiles := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, "etcd", "member", "wal"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".wal") {
				n++
			}
		}
		return n
	}
	s := open()
	// 12,000 writes of 600 bytes: ~7 segments, and a snapshot (every
	// 10,000 entries) that releases the ones before it.
	val := strings.Repeat("x", 600)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1500 {
				if err := s.PutRaw(context.Background(), fmt.Sprintf("%sfill/%d/%d", s.Prefix(), w, i%100), val); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	written := walFiles()
	s.Close()
	if written <= WALFilesKept {
		t.Fatalf("the writes made only %d WAL files: the test shows nothing", written)
	}
	// etcd purges at start (and every 30 s after).
	s = open()
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for walFiles() > WALFilesKept && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := walFiles(); n > WALFilesKept {
		t.Fatalf("%d WAL files after a restart (had %d), want at most %d", n, written, WALFilesKept)
	}
	dump, err := s.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dump[s.Prefix()+"fill/7/99"] != val {
		t.Fatal("a value written before the purge is gone")
	}
	t.Logf("WAL files: %d after the writes, %d after a restart", written, walFiles())
}
