package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Controller names, as in controller-runtime's metrics (controller_runtime_reconcile_total) and
// istio_alb_controller_enabled.
const (
	IstioControllerName      = "istio-gateway"
	GatewayAPIControllerName = "gateway-api-gateway"
)

// The kinds each controller watches besides core ones; it runs only when the API server serves
// all of them.
var (
	istioKinds = []schema.GroupVersionKind{
		istionet.SchemeGroupVersion.WithKind("Gateway"),
		istionet.SchemeGroupVersion.WithKind("VirtualService"),
	}
	gatewayAPIKinds = []schema.GroupVersionKind{
		gwapiv1.SchemeGroupVersion.WithKind("Gateway"),
		gwapiv1.SchemeGroupVersion.WithKind("GatewayClass"),
		gwapiv1.SchemeGroupVersion.WithKind("HTTPRoute"),
	}
)

// optionalController is a controller that can run only when its kinds' CRDs are installed.
type optionalController struct {
	name  string
	kinds []schema.GroupVersionKind
	setup func(manager.Manager) error
}

// controllerStarter starts each controller whose kinds the API server serves, and the others
// when their CRDs appear: most clusters have Istio's CRDs and not the Gateway API's (or the
// other way round), and the operator must serve the kind that is there. It asks the manager's
// REST mapper, which reads discovery again on every miss, so a CRD installed later is seen at
// the next check; controller-runtime starts a controller added to a running manager (at once on
// the leader, on election on a standby).
type controllerStarter struct {
	mgr    manager.Manager
	mapper meta.RESTMapper
	// interval between checks for the kinds of controllers that are off; 0 checks only at start.
	interval time.Duration
	log      logr.Logger

	mu      sync.Mutex
	pending []optionalController
}

func newControllerStarter(mgr manager.Manager, interval time.Duration, controllers ...optionalController) *controllerStarter {
	s := &controllerStarter{mgr: mgr, mapper: mgr.GetRESTMapper(), interval: interval,
		log: mgr.GetLogger().WithName("controllers"), pending: controllers}
	for _, c := range controllers {
		controllerEnabled.WithLabelValues(c.name).Set(0)
	}
	return s
}

// startServed sets up every pending controller whose kinds are all served and reports the rest
// as off. An error is a failure to ask discovery or to set a controller up.
func (s *controllerStarter) startServed(first bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var still []optionalController
	for i, c := range s.pending {
		missing, err := s.missing(c.kinds)
		if err != nil {
			s.pending = append(still, s.pending[i:]...)
			return discoveryError{fmt.Errorf("discovering the kinds of the %s controller: %w", c.name, err)}
		}
		if len(missing) > 0 {
			if first {
				s.log.Info("controller off: the API server does not serve its kinds (CRDs not installed)",
					"controller", c.name, "missing", missing, "recheckEvery", s.interval.String())
			}
			still = append(still, c)
			continue
		}
		if err := c.setup(s.mgr); err != nil {
			s.pending = append(still, s.pending[i:]...)
			return fmt.Errorf("setting up the %s controller: %w", c.name, err)
		}
		controllerEnabled.WithLabelValues(c.name).Set(1)
		if first {
			s.log.Info("controller on", "controller", c.name, "kinds", kindNames(c.kinds))
		} else {
			s.log.Info("controller started: its CRDs are installed now", "controller", c.name, "kinds", kindNames(c.kinds))
		}
	}
	s.pending = still
	return nil
}

// missing returns the kinds the API server does not serve.
func (s *controllerStarter) missing(kinds []schema.GroupVersionKind) ([]string, error) {
	var out []string
	for _, k := range kinds {
		_, err := s.mapper.RESTMapping(k.GroupKind(), k.Version)
		switch {
		case meta.IsNoMatchError(err):
			out = append(out, kindName(k))
		case err != nil:
			return nil, err
		}
	}
	return out, nil
}

func kindName(k schema.GroupVersionKind) string { return k.GroupVersion().String() + " " + k.Kind }

func kindNames(kinds []schema.GroupVersionKind) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, kindName(k))
	}
	return out
}

// waiting reports whether a controller is still off.
func (s *controllerStarter) waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) > 0
}

// Start implements manager.Runnable: it checks again every interval until every controller
// runs. A failure to ask discovery is retried; a failure to set a controller up stops the
// manager (the pod restarts and sets it up at start).
func (s *controllerStarter) Start(ctx context.Context) error {
	if s.interval <= 0 {
		return nil
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for s.waiting() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.startServed(false); err != nil {
			if !isDiscoveryError(err) {
				return err
			}
			s.log.Error(err, "checking for CRDs")
		}
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica checks, so that
// each reports which controllers are on; the controllers themselves run only on the leader.
func (s *controllerStarter) NeedLeaderElection() bool { return false }

// readyz is a readiness check per controller: it passes whether the controller runs or is off
// waiting for its CRDs (an operator serving one Gateway kind is ready), so /readyz?verbose
// lists which controllers the operator has; istio_alb_controller_enabled and the log say
// which are on.
func (s *controllerStarter) readyz() healthz.Checker {
	return func(*http.Request) error { return nil }
}

// discoveryError marks a failure to ask the API server which kinds it serves.
type discoveryError struct{ error }

func (e discoveryError) Unwrap() error { return e.error }

func isDiscoveryError(err error) bool {
	var d discoveryError
	return errors.As(err, &d)
}
