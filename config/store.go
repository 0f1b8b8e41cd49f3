package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/store"
)

// Store selects the backend for shared state and holds its settings:
//
//	store: {memory: {max_table_entries: 100000}}   # the default
//	store:
//	  redis:
//	    url: redis://127.0.0.1:6379/0
//	    pool_size: 20
//	    dial_timeout: 1s
//	    read_timeout: 200ms
//	    write_timeout: 200ms
//	    key_prefix: "verdict:"
type Store = store.Config

// MemoryStore holds the settings of the in-process store.
type MemoryStore = store.MemoryConfig

// RedisStore holds the settings of the Redis store.
type RedisStore = store.RedisConfig

// Bounds of the store settings, to catch a misplaced digit.
const (
	maxPoolSize     = 10_000
	maxStoreTimeout = 5*time.Minute + 1 // durations must stay below it
	maxKeyPrefix    = 256
	maxTableEntries = 1 << 30
)

func (d *Decoder) store(n *yaml.Node, field string, s *Store) {
	var backends []string
	d.Entries(n, field, func(key string, k, v *yaml.Node) {
		f := Join(field, key)
		switch key {
		case "memory":
			d.memoryStore(v, f, &s.Memory)
		case "redis":
			d.redisStore(v, f, &s.Redis)
		default:
			d.Errorf(k, f, "unsupported store %q: choose memory or redis", key)
			return
		}
		backends = append(backends, key)
	})
	if len(backends) > 1 {
		d.Errorf(Resolve(n), field, "choose one store, not %s", strings.Join(backends, " and "))
	}
	if len(backends) == 1 {
		s.Backend = backends[0]
	}
}

func (d *Decoder) memoryStore(n *yaml.Node, field string, m *MemoryStore) {
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"max_table_entries": func(v *yaml.Node, f string) {
			if size, ok := d.Count(v, f, 1, maxTableEntries); ok {
				m.MaxTableEntries = size
			}
		},
	})
}

func (d *Decoder) redisStore(n *yaml.Node, field string, r *RedisStore) {
	timeout := func(dst *time.Duration) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			if t, ok := d.Duration(v, f, maxStoreTimeout); ok {
				*dst = t
			}
		}
	}
	urlSeen := false
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"url": func(v *yaml.Node, f string) {
			urlSeen = true
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if err := checkRedisURL(s); err != nil {
				d.Errorf(v, f, "%v", err)
				return
			}
			r.URL = s
		},
		"pool_size": func(v *yaml.Node, f string) {
			if size, ok := d.Count(v, f, 1, maxPoolSize); ok {
				r.PoolSize = size
			}
		},
		"dial_timeout":  timeout(&r.DialTimeout),
		"read_timeout":  timeout(&r.ReadTimeout),
		"write_timeout": timeout(&r.WriteTimeout),
		"key_prefix": func(v *yaml.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if len(s) > maxKeyPrefix || strings.ContainsAny(s, " \t\r\n") {
				d.Errorf(v, f, "must be at most %d characters without spaces", maxKeyPrefix)
				return
			}
			r.KeyPrefix = s
		},
	})
	if rn := Resolve(n); !urlSeen && (IsNull(rn) || rn.Kind == yaml.MappingNode) {
		d.Errorf(rn, Join(field, "url"), "the Redis server's URL is required, e.g. redis://127.0.0.1:6379/0")
	}
}

// checkRedisURL accepts redis:// and rediss:// URLs with a host, an
// optional numeric port and an optional database number as the path.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("URL %q must start with redis:// or rediss://", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("URL %q has no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("URL %q: port must be a number from 1 to 65535", s)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("URL %q: port must be a number from 1 to 65535", s)
	}
	if strings.ContainsAny(u.Hostname(), " /\t") || net.ParseIP(u.Hostname()) == nil && strings.ContainsAny(u.Hostname(), "[]") {
		return fmt.Errorf("URL %q has a bad host", s)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.ParseUint(db, 10, 16); err != nil || (len(db) > 1 && db[0] == '0') || n > 1000 {
			return fmt.Errorf("URL %q: the path must be a database number, e.g. /0", s)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("URL %q: put settings in the store.redis fields, not in the query", s)
	}
	return nil
}
