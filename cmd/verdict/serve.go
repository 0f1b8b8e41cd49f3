package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/gctune"
	"github.com/verdict-policy/verdict/internal/logbuf"
	"github.com/verdict-policy/verdict/script"
	"github.com/verdict-policy/verdict/server"
)

func runServe(e env, args []string) int {
	fs := newFlagSet(e, "serve", "[--config FILE] [--log-level LEVEL] [--log-format FORMAT] [--log-flush DURATION] [--policy-load-path DIRS]")
	cfgPath := fs.String("config", "", "the configuration `file` (YAML or JSON); without it, the built-in example")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	format := fs.String("log-format", "text", "log `format`: text or json")
	flush := fs.Duration("log-flush", defaultLogFlush, "longest `time` an info or debug log line waits in the buffer before it is written; 0 writes every line at once")
	loadPath := fs.String("policy-load-path", "", "`directories` of custom Lua policies, separated by ':'; replaces policy_load_path and $"+script.LoadPathEnv)
	if code := parseFlags(e, fs, args); code >= 0 {
		return code
	}
	if *loadPath != "" {
		// Through the environment, so that every reload sees it too.
		if err := os.Setenv(script.LoadPathEnv, *loadPath); err != nil {
			fmt.Fprintf(e.stderr, "verdict serve: %v\n", err)
			return exitUsage
		}
	}
	if *flush < 0 {
		fmt.Fprintf(e.stderr, "verdict serve: bad --log-flush %s: use 0 or more\n", *flush)
		fs.Usage()
		return exitUsage
	}
	out := logbuf.New(e.stderr, 0, *flush)
	defer out.Close()
	logger, err := newLogger(out, *level, *format)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict serve: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	// What libraries log through slog's default (the Redis client's
	// messages, for one) takes the server's format and destination.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(logger)

	// Connection limits are derived from the open-file limit: let it be
	// as high as the system allows.
	if nofile, err := server.RaiseOpenFileLimit(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		logger.Warn("the open-file limit could not be raised", "open_file_limit", nofile, "error", err.Error())
	}

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitProblems
	}
	srv, err := server.New(cfg, logger)
	if err != nil {
		printProblems(e.stderr, err)
		return exitProblems
	}
	if err := srv.Listen(); err != nil {
		fmt.Fprintf(e.stderr, "verdict serve: %v\n", err)
		return exitProblems
	}
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		logger.Error("server stopped", "error", err.Error())
		return exitProblems
	}
	return exitOK
}

// serveGCPercent is the garbage collector's least target for the server:
// Go's default of 100 collects very often for a server whose live heap is
// small while every request allocates a little.
const serveGCPercent = 400

// serveGCHeadroom is the least room the heap goal leaves above the live
// heap. With only a percentage, a server with a few megabytes of live
// heap collects several times a second under load, and on one core each
// collection holds back the requests in flight: most of the slowest
// hundredth of requests. The headroom makes that a collection every few
// seconds, for some 64 MiB of memory.
const serveGCHeadroom = 64 << 20

// tuneGC applies serveGCPercent and serveGCHeadroom unless GOGC says
// otherwise.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		gctune.Start(serveGCHeadroom, serveGCPercent)
	}
}

// ConfigFileEnv names the environment variable APIcast users set to their
// configuration file; it is read when --config is not given.
const ConfigFileEnv = "THREESCALE_CONFIG_FILE"

// loadConfig loads the named configuration file; without one, the file
// named by THREESCALE_CONFIG_FILE, else the built-in configuration. An
// APIcast configuration file ({"services": [...]}) is a configuration file
// too: its services are the gateway's.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv(ConfigFileEnv)
	}
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// defaultLogFlush bounds how long a buffered log line waits. A server
// logging a line per request (the Pexip door does) would otherwise make a
// write system call per request; warnings and errors are never held back.
const defaultLogFlush = 100 * time.Millisecond

func newLogger(out *logbuf.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = logbuf.NewTextHandler(out, lv)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return nil, fmt.Errorf("bad --log-format %q: use text or json", format)
	}
	return slog.New(logbuf.NewHandler(h, out, slog.LevelWarn)), nil
}
