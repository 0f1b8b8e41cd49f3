package threescale

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// credKind is which credential a batched report names the application by.
type credKind uint8

const (
	credUserKey credKind = iota
	credAppID
	credAccessToken
)

var credKindNames = [...]string{"user_key", "app_id", "access_token"}

// batchKey identifies one batched counter of a service: an application and
// a metric. A report names the application by one credential, as APIcast's
// batcher does: an app_key is not reported.
type batchKey struct {
	kind   credKind
	id     string
	metric string
}

// reportIdentity returns the credential a report names c's application by.
func reportIdentity(c *Credentials) (credKind, string) {
	switch {
	case c.UserKey != "":
		return credUserKey, c.UserKey
	case c.AppID != "":
		return credAppID, c.AppID
	default:
		return credAccessToken, c.AccessToken
	}
}

func (k batchKey) credentials() Credentials {
	switch k.kind {
	case credUserKey:
		return Credentials{UserKey: k.id}
	case credAppID:
		return Credentials{AppID: k.id}
	default:
		return Credentials{AccessToken: k.id}
	}
}

// member is the key's name in a store: kind=ID&m=METRIC, escaped.
func (k batchKey) member() string {
	b := append([]byte(credKindNames[k.kind]), '=')
	b = appendEscaped(b, k.id)
	b = append(b, "&m="...)
	b = appendEscaped(b, k.metric)
	return string(b)
}

func parseMember(s string) (batchKey, error) {
	cred, metric, ok := strings.Cut(s, "&m=")
	if !ok {
		return batchKey{}, fmt.Errorf("batched report %q has no metric", s)
	}
	name, id, ok := strings.Cut(cred, "=")
	if !ok {
		return batchKey{}, fmt.Errorf("batched report %q has no credential", s)
	}
	k := batchKey{kind: 255}
	for i, n := range credKindNames {
		if n == name {
			k.kind = credKind(i)
		}
	}
	if k.kind == 255 {
		return batchKey{}, fmt.Errorf("batched report %q: unknown credential %q", s, name)
	}
	var err error
	if k.id, err = url.PathUnescape(id); err != nil || k.id == "" {
		return batchKey{}, fmt.Errorf("batched report %q: bad credential", s)
	}
	if k.metric, err = url.PathUnescape(metric); err != nil || k.metric == "" {
		return batchKey{}, fmt.Errorf("batched report %q: bad metric", s)
	}
	return k, nil
}

// transactions turns batched counts into report transactions, one per
// application, in a stable order.
func transactions(counts map[batchKey]int64) []Transaction {
	keys := make([]batchKey, 0, len(counts))
	for k, v := range counts {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b batchKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.id, b.id), strings.Compare(a.metric, b.metric))
	})
	var txs []Transaction
	for i, k := range keys {
		if i == 0 || k.kind != keys[i-1].kind || k.id != keys[i-1].id {
			txs = append(txs, Transaction{Credentials: k.credentials()})
		}
		txs[len(txs)-1].Usage.Add(k.metric, counts[k])
	}
	return txs
}

// maxReportParams bounds the form parameters of one report call, below the
// 4096 a Rack server parses by default; more transactions go in several
// calls.
const maxReportParams = 1000

// chunks splits txs into reports of at most maxReportParams parameters.
func chunks(txs []Transaction) [][]Transaction {
	var out [][]Transaction
	start, params := 0, 0
	for i := range txs {
		n := 1 + txs[i].Usage.Len()
		if params+n > maxReportParams && i > start {
			out = append(out, txs[start:i])
			start, params = i, 0
		}
		params += n
	}
	if start < len(txs) {
		out = append(out, txs[start:])
	}
	return out
}

// localBatch accumulates reports in this process.
type localBatch struct {
	mu       sync.RWMutex
	services map[*Service]*serviceBatch
}

type serviceBatch struct {
	mu     sync.Mutex
	counts map[batchKey]int64
}

func newLocalBatch() *localBatch {
	return &localBatch{services: make(map[*Service]*serviceBatch)}
}

func (b *localBatch) of(s *Service) *serviceBatch {
	b.mu.RLock()
	sb := b.services[s]
	b.mu.RUnlock()
	if sb != nil {
		return sb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if sb = b.services[s]; sb == nil {
		sb = &serviceBatch{counts: make(map[batchKey]int64)}
		b.services[s] = sb
	}
	return sb
}

// add counts u for the application c of service s.
func (b *localBatch) add(s *Service, c *Credentials, u Usage) {
	kind, id := reportIdentity(c)
	sb := b.of(s)
	sb.mu.Lock()
	for _, d := range u.d {
		sb.counts[batchKey{kind: kind, id: id, metric: d.Metric}] += d.Value
	}
	sb.mu.Unlock()
}

// addCounts puts counts back, after a report that could not be sent.
func (b *localBatch) addCounts(s *Service, counts map[batchKey]int64) {
	sb := b.of(s)
	sb.mu.Lock()
	for k, v := range counts {
		sb.counts[k] += v
	}
	sb.mu.Unlock()
}

// take empties the batch of s and returns what it held.
func (b *localBatch) take(s *Service) map[batchKey]int64 {
	b.mu.RLock()
	sb := b.services[s]
	b.mu.RUnlock()
	if sb == nil {
		return nil
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if len(sb.counts) == 0 {
		return nil
	}
	out := sb.counts
	sb.counts = make(map[batchKey]int64, len(out))
	return out
}

// pending returns the sum of every count held, for tests and logs.
func (b *localBatch) pending() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var n int64
	for _, sb := range b.services {
		sb.mu.Lock()
		for _, v := range sb.counts {
			n += v
		}
		sb.mu.Unlock()
	}
	return n
}

// storeBatch accumulates reports in a shared store: one counter per
// application and metric, and a set per service naming the counters, so
// that any instance can send what every instance added. A count the store
// cannot take goes to the local batch, which this instance sends itself.
//
// Sending takes each counter in one step (Take), so an increment is sent
// by exactly one instance. A counter is removed from the set after it is
// taken and put back if it has grown again meanwhile; adding increments
// the counter before naming it in the set. Together these keep every
// non-zero counter named in its set.
type storeBatch struct {
	st     Store
	prefix string
	local  *localBatch
}

func (b *storeBatch) setKey(s *Service) string { return b.prefix + "reports:" + s.key }

func (b *storeBatch) counterKey(s *Service, member string) string {
	return b.prefix + "report:" + s.key + "|" + member
}

// add counts u for the application c of service s.
func (b *storeBatch) add(ctx context.Context, s *Service, c *Credentials, u Usage) error {
	kind, id := reportIdentity(c)
	var failed map[batchKey]int64
	var firstErr error
	for _, d := range u.d {
		k := batchKey{kind: kind, id: id, metric: d.Metric}
		if err := b.addOne(ctx, s, k, d.Value); err != nil {
			if failed == nil {
				failed = make(map[batchKey]int64, len(u.d))
				firstErr = err
			}
			failed[k] += d.Value
		}
	}
	if failed != nil {
		b.local.addCounts(s, failed)
	}
	return firstErr
}

// addOne increments one counter and names it in its service's set. When
// the set cannot be written the increment is taken back, so that the
// caller keeps it locally instead.
func (b *storeBatch) addOne(ctx context.Context, s *Service, k batchKey, v int64) error {
	m := k.member()
	ck := b.counterKey(s, m)
	if _, err := b.st.Incr(ctx, ck, v, 0); err != nil {
		return err
	}
	if _, err := b.st.SetAdd(ctx, b.setKey(s), 0, m); err != nil {
		if _, undo := b.st.Incr(ctx, ck, -v, 0); undo != nil {
			// Counted in the store but not named: the next count of the
			// same application and metric names it again.
			return nil
		}
		return err
	}
	return nil
}

// take empties the shared batch of s and returns what it held.
func (b *storeBatch) take(ctx context.Context, s *Service) (map[batchKey]int64, error) {
	set := b.setKey(s)
	members, err := b.st.SetMembers(ctx, set)
	if err != nil {
		return nil, err
	}
	counts := make(map[batchKey]int64, len(members))
	var errs []error
	for _, m := range members {
		k, perr := parseMember(m)
		if perr != nil {
			errs = append(errs, perr)
			_, _ = b.st.SetRemove(ctx, set, m)
			continue
		}
		ck := b.counterKey(s, m)
		v, err := b.st.Take(ctx, ck)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v > 0 {
			counts[k] += v
		}
		if _, err := b.st.SetRemove(ctx, set, m); err != nil {
			errs = append(errs, err)
			continue
		}
		// An instance may have counted again since the take: name the
		// counter again so that the next send finds it.
		if n, ok, err := b.st.Get(ctx, ck); err != nil || ok && n != 0 {
			if _, err := b.st.SetAdd(ctx, set, 0, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return counts, errors.Join(errs...)
}

// putBack returns counts that could not be sent.
func (b *storeBatch) putBack(ctx context.Context, s *Service, counts map[batchKey]int64) {
	var failed map[batchKey]int64
	for k, v := range counts {
		if err := b.addOne(ctx, s, k, v); err != nil {
			if failed == nil {
				failed = make(map[batchKey]int64)
			}
			failed[k] += v
		}
	}
	if failed != nil {
		b.local.addCounts(s, failed)
	}
}
