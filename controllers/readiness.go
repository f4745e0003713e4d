package controllers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// cachesSynced is a readiness check that fails while the manager's informer caches have not
// synced (at start, and on the leader while its controllers' watches fill), waiting at most
// timeout for them; /healthz stays a liveness ping.
func cachesSynced(c interface{ WaitForCacheSync(context.Context) bool }, timeout time.Duration) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("informer caches not synced yet")
		}
		return nil
	}
}
