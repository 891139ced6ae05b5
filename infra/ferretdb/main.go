// Command ferretdb runs an embedded FerretDB v1.24 (MongoDB wire protocol)
// on the SQLite backend for local development and tests.
//
// It is built from this tiny module instead of `go install .../cmd/ferretdb`
// because the upstream CLI panics when built from the module proxy: its
// generated build/version/version.txt is not in the module zip (FerretDB#2982).
//
// Build: GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o ../../.local/bin/ferretdb .
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// noisyWarnings are FerretDB warnings that are routine in tests. At WARN they
// flood the log: every pymongo MongoClient.close() sends endSessions, which
// FerretDB 1.24 does not know, and the reply is dumped in full ("Response
// header/message"); a client closing its connection races with the
// connection's own shutdown ("Failed to set deadline").
var noisyWarnings = []string{"Response header: ", "Response message:", "Failed to set deadline: "}

// quietResponses logs noisyWarnings at INFO instead of WARN;
// run with -log-level info to see them again.
type quietResponses struct{ slog.Handler }

func (h quietResponses) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && isNoisy(r.Message) {
		r.Level = slog.LevelInfo
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func isNoisy(msg string) bool {
	for _, p := range noisyWarnings {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (h quietResponses) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietResponses{h.Handler.WithAttrs(attrs)}
}

func (h quietResponses) WithGroup(name string) slog.Handler {
	return quietResponses{h.Handler.WithGroup(name)}
}

func main() {
	listen := flag.String("listen-addr", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"),
		"TCP address to listen on (env FERRETDB_LISTEN_ADDR)")
	dir := flag.String("sqlite-dir", envOr("FERRETDB_SQLITE_DIR", "data"),
		"directory holding the SQLite databases, created if missing (env FERRETDB_SQLITE_DIR)")
	logLevel := flag.String("log-level", envOr("FERRETDB_LOG_LEVEL", "warn"),
		"log level: debug, info, warn or error (env FERRETDB_LOG_LEVEL)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(quietResponses{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})})

	absDir, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(absDir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: SQLite directory %q: %v\n", *dir, err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The SQLite URL must use the file: scheme, name an existing directory
	// and end with a slash. FerretDB adds WAL journaling and a busy timeout itself.
	// synchronous(normal) is SQLite's recommended setting with WAL: commits no longer
	// fsync (checkpoints do), so a crash of FerretDB or of the machine's processes
	// loses nothing; a power cut may lose the last commits. Without it every small
	// write paid an fsync and FerretDB spent most of its CPU time in the kernel.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(absDir) + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	// New has already bound the listener; connections wait in the backlog
	// until Run accepts them.
	fmt.Fprintf(os.Stderr, "ferretdb: listening on %s (sqlite %s, pid %d)\n", f.MongoDBURI(), absDir, os.Getpid())

	if err := f.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "ferretdb: stopped")
}
