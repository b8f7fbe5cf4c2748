package registry

import "sync"

// Locks serialises read-modify-write cycles per key (a repository and tag)
// inside one process. Registries offer no compare-and-swap on tags, so two
// goroutines appending to the same .sig or referrers index would otherwise
// lose one another's writes. Entries are dropped when their last holder
// unlocks, so memory stays bounded by the number of keys in flight.
//
// The zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu      sync.Mutex
	holders int
}

// Lock blocks until key is free and returns the function that frees it.
func (l *Locks) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*lockEntry)
	}
	e := l.m[key]
	if e == nil {
		e = &lockEntry{}
		l.m[key] = e
	}
	e.holders++
	l.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		e.holders--
		if e.holders == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
