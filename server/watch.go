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

// How long the watched files must stay quiet before a change reloads.
// A file renamed (or linked) into place is whole the moment it appears,
// so it reloads after a short pause that gathers the other files of the
// same deploy. A file written in place may be caught between two writes
// of a slow writer, and its first part can be a valid configuration of
// its own (a service cut before its policy_chain runs without its
// policies), so it reloads only once no write has come for a second and
// its size and modification time have not moved over that second. A
// writer that pauses longer than that in the middle of a file can still
// be read half-way: configurations should be replaced atomically.
const (
	renameSettle = 100 * time.Millisecond
	writeSettle  = time.Second
)

// settleTimes are the pauses a watcher waits; zero fields take the
// defaults above (tests lengthen them).
type settleTimes struct {
	rename, write time.Duration
}

func (st settleTimes) withDefaults() settleTimes {
	if st.rename <= 0 {
		st.rename = renameSettle
	}
	if st.write <= 0 {
		st.write = writeSettle
	}
	return st
}

// stamp is what a file looked like: its size and modification time.
type stamp struct {
	size, mtime int64
	exists      bool
}

func stampOf(path string) stamp {
	info, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{size: info.Size(), mtime: info.ModTime().UnixNano(), exists: true}
}

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

	settle := s.settle.withDefaults()
	// written holds the files written in place since the last reload,
	// each with its stamp when last seen.
	written := map[string]stamp{}
	timer := time.NewTimer(settle.rename)
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
			if !ws.relevant(ev) {
				continue
			}
			s.logger.Debug("file changed", "file", ev.Name, "op", ev.Op.String())
			if ev.Has(fsnotify.Write) {
				written[ev.Name] = stampOf(ev.Name)
			}
			if len(written) > 0 {
				timer.Reset(settle.write)
			} else {
				timer.Reset(settle.rename)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.logger.Warn("file watch error", "error", err.Error())
		case <-timer.C:
			if moving := stillMoving(written); moving != "" {
				s.logger.Debug("waiting for a file written in place to settle", "file", moving)
				timer.Reset(settle.write)
				continue
			}
			clear(written)
			s.reloadAndLog("file change")
		case <-s.changed:
			update()
		}
	}
}

// stillMoving returns a file of written whose size or modification time
// changed since it was last seen, updating its stamp, or "" when none did.
func stillMoving(written map[string]stamp) string {
	moving := ""
	for name, was := range written {
		if now := stampOf(name); now != was {
			written[name] = now
			moving = name
		}
	}
	return moving
}
