package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/verdict-policy/verdict/config"
)

// debounce is how long the files must stay quiet before a change reloads:
// editors and deploy tools often write a file in several steps.
const debounce = 100 * time.Millisecond

// watchSet says which file events matter. Directories are watched rather
// than files, because many editors and tools replace a file by renaming a
// new one over it, which ends a watch on the file itself.
type watchSet struct {
	files map[string]bool // the config file and policy files
	dirs  map[string]bool // policy directories: any policy file in them counts
	watch map[string]bool // the directories handed to fsnotify
}

func newWatchSet(paths []string) watchSet {
	ws := watchSet{files: map[string]bool{}, dirs: map[string]bool{}, watch: map[string]bool{}}
	for _, p := range paths {
		p = absClean(p)
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			ws.dirs[p] = true
			ws.watch[p] = true
			continue
		}
		ws.files[p] = true
		ws.watch[filepath.Dir(p)] = true
	}
	return ws
}

func absClean(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// relevant reports whether ev may change what a reload would load.
func (ws watchSet) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := absClean(ev.Name)
	if ws.files[name] {
		return true
	}
	if ws.dirs[filepath.Dir(name)] && config.IsPolicyFile(name) {
		return true
	}
	// Kubernetes swaps a mounted ConfigMap by renaming a "..data" link.
	return ws.watch[filepath.Dir(name)] && strings.HasPrefix(filepath.Base(name), "..")
}

func (s *Server) watchPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.WatchPaths()
}

// watch reloads when a watched file changes, until ctx is done. After every
// successful reload it updates what it watches, as the configuration may
// name other files now.
func (s *Server) watch(ctx context.Context) {
	paths := s.watchPaths()
	if len(paths) == 0 {
		return // the built-in configuration never changes
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.logger.Warn("cannot watch files; reload with SIGHUP or POST /v1/reload", "error", err.Error())
		return
	}
	defer w.Close()

	var ws watchSet
	update := func() {
		next := newWatchSet(s.watchPaths())
		for dir := range ws.watch {
			if !next.watch[dir] {
				_ = w.Remove(dir)
			}
		}
		for dir := range next.watch {
			if ws.watch[dir] {
				continue
			}
			if err := w.Add(dir); err != nil {
				s.logger.Warn("cannot watch directory", "dir", dir, "error", err.Error())
				delete(next.watch, dir)
			}
		}
		ws = next
	}
	update()

	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ws.relevant(ev) {
				s.logger.Debug("file changed", "file", ev.Name, "op", ev.Op.String())
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.logger.Warn("file watch error", "error", err.Error())
		case <-timer.C:
			s.reloadAndLog("file change")
		case <-s.changed:
			update()
		}
	}
}
