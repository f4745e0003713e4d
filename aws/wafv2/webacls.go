package wafv2

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
)

// WebACLs tells whether web ACLs exist. An answer is reused for TTL, so a steady reconcile of a
// Gateway with a web ACL asks WAF nothing.
type WebACLs struct {
	API API
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	known map[string]answer
}

type answer struct {
	exists bool
	at     time.Time
}

func (w *WebACLs) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Exists reports whether the web ACL exists, asking WAF at most once per TTL; fresh asks again
// (after a rejection the user may have created it since).
func (w *WebACLs) Exists(ctx context.Context, arn string, fresh bool) (bool, error) {
	w.mu.Lock()
	a, ok := w.known[arn]
	w.mu.Unlock()
	if ok && !fresh && w.now().Sub(a.at) < w.TTL {
		return a.exists, nil
	}
	_, err := w.API.GetWebACL(ctx, &wafv2.GetWebACLInput{ARN: aws.String(arn)})
	switch {
	case clients.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("GetWebACL %s: %w", arn, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.known == nil {
		w.known = map[string]answer{}
	}
	w.known[arn] = answer{exists: err == nil, at: w.now()}
	return err == nil, nil
}
