package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestStoreSection(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Store
	}{
		{"absent", "", Store{Backend: "memory"}},
		{"null", "store:\n", Store{Backend: "memory"}},
		{"memory", "store: {memory: {}}\n", Store{Backend: "memory"}},
		{"memory with a table bound", "store: {memory: {max_table_entries: 5000}}\n",
			Store{Backend: "memory", Memory: MemoryStore{MaxTableEntries: 5000}}},
		{"redis with the url only", "store: {redis: {url: \"redis://127.0.0.1:6379/0\"}}\n",
			Store{Backend: "redis", Redis: RedisStore{URL: "redis://127.0.0.1:6379/0"}}},
		{"redis with every field", `
store:
  redis:
    url: rediss://user:secret@cache.internal:6380/3
    pool_size: 32
    dial_timeout: 1s
    read_timeout: 250ms
    write_timeout: 300ms
    key_prefix: "verdict:prod:"
`, Store{Backend: "redis", Redis: RedisStore{
			URL: "rediss://user:secret@cache.internal:6380/3", PoolSize: 32,
			DialTimeout: time.Second, ReadTimeout: 250 * time.Millisecond, WriteTimeout: 300 * time.Millisecond,
			KeyPrefix: "verdict:prod:"}}},
		{"redis without a port or database", "store: {redis: {url: \"redis://localhost\"}}\n",
			Store{Backend: "redis", Redis: RedisStore{URL: "redis://localhost"}}},
		{"redis on IPv6", "store: {redis: {url: \"redis://[::1]:6379\"}}\n",
			Store{Backend: "redis", Redis: RedisStore{URL: "redis://[::1]:6379"}}},
		{"in JSON", `{"store": {"redis": {"url": "redis://127.0.0.1:6379/1", "pool_size": 4}}}`,
			Store{Backend: "redis", Redis: RedisStore{URL: "redis://127.0.0.1:6379/1", PoolSize: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("verdict.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Store, tt.want) {
				t.Fatalf("store = %+v\nwant    %+v", cfg.Store, tt.want)
			}
		})
	}
}

func TestStoreSectionProblems(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"unknown backend", "store: {disk: {}}\n",
			[]string{`1:9: store.disk: unsupported store "disk": choose memory or redis`}},
		{"two backends", "store:\n  memory: {}\n  redis: {url: \"redis://h\"}\n",
			[]string{"2:3: store: choose one store, not memory and redis"}},
		{"redis without url", "store:\n  redis: {pool_size: 3}\n",
			[]string{"2:10: store.redis.url: the Redis server's URL is required, e.g. redis://127.0.0.1:6379/0"}},
		{"redis null", "store:\n  redis:\n",
			[]string{"2:9: store.redis.url: the Redis server's URL is required, e.g. redis://127.0.0.1:6379/0"}},
		{"redis as a string", "store: {redis: \"redis://h\"}\n",
			[]string{"1:16: store.redis: must be a mapping, not a string"}},
		{"url not redis", "store: {redis: {url: \"http://h:80\"}}\n",
			[]string{`1:22: store.redis.url: URL "http://h:80" must start with redis:// or rediss://`}},
		{"url without host", "store: {redis: {url: \"redis:///0\"}}\n",
			[]string{`1:22: store.redis.url: URL "redis:///0" has no host`}},
		{"url with a bad port", "store: {redis: {url: \"redis://h:99999\"}}\n",
			[]string{`1:22: store.redis.url: URL "redis://h:99999": port must be a number from 1 to 65535`}},
		{"url with an empty port", "store: {redis: {url: \"redis://h:/0\"}}\n",
			[]string{`1:22: store.redis.url: URL "redis://h:/0": port must be a number from 1 to 65535`}},
		{"url with a named database", "store: {redis: {url: \"redis://h/cache\"}}\n",
			[]string{`1:22: store.redis.url: URL "redis://h/cache": the path must be a database number, e.g. /0`}},
		{"url with a query", "store: {redis: {url: \"redis://h/0?pool_size=3\"}}\n",
			[]string{`1:22: store.redis.url: URL "redis://h/0?pool_size=3": put settings in the store.redis fields, not in the query`}},
		{"url not a string", "store: {redis: {url: 6379}}\n",
			[]string{"1:22: store.redis.url: must be a string, not a number"}},
		{"pool size zero", "store: {redis: {url: \"redis://h\", pool_size: 0}}\n",
			[]string{"1:46: store.redis.pool_size: must be from 1 to 10000, not 0"}},
		{"pool size text", "store: {redis: {url: \"redis://h\", pool_size: many}}\n",
			[]string{"1:46: store.redis.pool_size: must be a whole number, not a string"}},
		{"timeout as a number", "store: {redis: {url: \"redis://h\", read_timeout: 5}}\n",
			[]string{"1:49: store.redis.read_timeout: must be a string, not a number"}},
		{"timeout without a unit", "store: {redis: {url: \"redis://h\", dial_timeout: \"5\"}}\n",
			[]string{`1:49: store.redis.dial_timeout: must be a duration such as 500ms or 2s, not "5"`}},
		{"timeout too long", "store: {redis: {url: \"redis://h\", write_timeout: 1h}}\n",
			[]string{"1:50: store.redis.write_timeout: must be more than 0 and less than 5m0.000000001s, not 1h0m0s"}},
		{"prefix with a space", "store: {redis: {url: \"redis://h\", key_prefix: \"a b\"}}\n",
			[]string{"1:47: store.redis.key_prefix: must be at most 256 characters without spaces"}},
		{"unknown redis field", "store: {redis: {url: \"redis://h\", password: x}}\n",
			[]string{"1:35: store.redis.password: unknown field"}},
		{"memory table bound zero", "store: {memory: {max_table_entries: 0}}\n",
			[]string{"1:37: store.memory.max_table_entries: must be from 1 to 1073741824, not 0"}},
		{"every problem at once", "store:\n  redis:\n    url: ftp://x\n    pool_size: -1\n    key_prefix: 7\n",
			[]string{
				`3:10: store.redis.url: URL "ftp://x" must start with redis:// or rediss://`,
				"4:16: store.redis.pool_size: must be from 1 to 10000, not -1",
				"5:17: store.redis.key_prefix: must be a string, not a number",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("verdict.yaml", []byte(tt.data))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg.Store)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimPrefix(p.Error(), "verdict.yaml:"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// FuzzStore feeds arbitrary store sections to the loader. An accepted
// Redis section must name a URL that the Redis client can parse, so that a
// configuration that loads also opens.
func FuzzStore(f *testing.F) {
	f.Add("redis: {url: \"redis://127.0.0.1:6379/0\", pool_size: 3, read_timeout: 1s}")
	f.Add("memory: {max_table_entries: 10}")
	f.Add("redis: {url: \"rediss://u:p@[::1]:1/15\"}")
	f.Fuzz(func(t *testing.T, section string) {
		data := "store:\n  " + strings.ReplaceAll(section, "\n", "\n  ") + "\n"
		cfg, err := Parse("fuzz.yaml", []byte(data))
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T %v is not a non-empty Problems", err, err)
			}
			return
		}
		s := cfg.Store
		switch s.Backend {
		case "memory":
			if s.Memory.MaxTableEntries < 0 {
				t.Fatalf("accepted %+v", s.Memory)
			}
		case "redis":
			if _, err := goredis.ParseURL(s.Redis.URL); err != nil {
				t.Fatalf("accepted url %q that the client rejects: %v", s.Redis.URL, err)
			}
			r := s.Redis
			if r.PoolSize < 0 || r.DialTimeout < 0 || r.ReadTimeout < 0 || r.WriteTimeout < 0 {
				t.Fatalf("accepted %+v", r)
			}
		default:
			t.Fatalf("accepted backend %q", s.Backend)
		}
	})
}
