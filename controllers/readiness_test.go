package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

type syncedCache bool

func (s syncedCache) WaitForCacheSync(context.Context) bool { return bool(s) }

// readyz answers GET /readyz from a handler holding only the check.
func readyz(check healthz.Checker) int {
	h := http.StripPrefix("/readyz", &healthz.Handler{Checks: map[string]healthz.Checker{"informer-caches": check}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code
}

func TestReadinessFailsWhileTheInformerCachesAreNotSyncedAndPassesOnceTheyAre(t *testing.T) {
	// A real informer cache that has not been started (the manager starts it; a controller's
	// informers then fill it) has not synced.
	c, err := cache.New(&rest.Config{Host: "http://127.0.0.1:1"}, cache.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := readyz(cachesSynced(c, 200*time.Millisecond)); code != http.StatusInternalServerError {
		t.Errorf("/readyz with unsynced caches answered %d, want 500", code)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the check waited %s, want about its 200ms timeout", waited)
	}
	if code := readyz(cachesSynced(syncedCache(true), time.Second)); code != http.StatusOK {
		t.Errorf("/readyz with synced caches answered %d, want 200", code)
	}
}
