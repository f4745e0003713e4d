package controllers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// servedKinds is a REST mapper over a set of kinds that a test changes, as CRDs being installed
// change what discovery answers; fail makes every lookup fail as an unreachable API server does.
type servedKinds struct {
	meta.RESTMapper
	mu     sync.Mutex
	served map[schema.GroupVersionKind]bool
	fail   error
}

func (m *servedKinds) serve(kinds ...schema.GroupVersionKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range kinds {
		m.served[k] = true
	}
}

func (m *servedKinds) failWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

func (m *servedKinds) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	gvk := gk.WithVersion(versions[0])
	if !m.served[gvk] {
		return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
	}
	return &meta.RESTMapping{GroupVersionKind: gvk}, nil
}

// setups counts the set-ups of each controller.
type setups struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *setups) of(name string, err error) func(manager.Manager) error {
	return func(manager.Manager) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.n[name]++
		return err
	}
}

func (s *setups) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[name]
}

func newTestStarter(mapper meta.RESTMapper, interval time.Duration, controllers ...optionalController) *controllerStarter {
	s := &controllerStarter{mapper: mapper, interval: interval, log: logr.Discard(), pending: controllers}
	for _, c := range controllers {
		controllerEnabled.WithLabelValues(c.name).Set(0)
	}
	return s
}

func TestOnAClusterWithoutTheGatewayAPICRDsOnlyTheIstioControllerStartsAndTheOtherStartsWhenTheyAreInstalled(t *testing.T) {
	mapper := &servedKinds{served: map[schema.GroupVersionKind]bool{}}
	mapper.serve(istioKinds...)
	set := &setups{n: map[string]int{}}
	s := newTestStarter(mapper, 10*time.Millisecond,
		optionalController{name: "t-istio", kinds: istioKinds, setup: set.of("t-istio", nil)},
		optionalController{name: "t-gateway-api", kinds: gatewayAPIKinds, setup: set.of("t-gateway-api", nil)})

	if err := s.startServed(true); err != nil {
		t.Fatal(err)
	}
	if set.count("t-istio") != 1 || set.count("t-gateway-api") != 0 || !s.waiting() {
		t.Fatalf("at start: set-ups %v, waiting %v; want only the Istio controller, and to wait for the other", set.n, s.waiting())
	}
	if on, off := value(t, controllerEnabled.WithLabelValues("t-istio")), value(t, controllerEnabled.WithLabelValues("t-gateway-api")); on != 1 || off != 0 {
		t.Fatalf("istio_alb_controller_enabled: istio %v, gateway-api %v; want 1 and 0", on, off)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()

	// A failing discovery is retried, not fatal.
	mapper.failWith(errors.New("connection refused"))
	time.Sleep(50 * time.Millisecond)
	mapper.failWith(nil)
	// Only part of the Gateway API is installed: still off.
	mapper.serve(gatewayAPIKinds[0])
	time.Sleep(50 * time.Millisecond)
	if set.count("t-gateway-api") != 0 {
		t.Fatal("the Gateway API controller started with only the Gateway CRD installed")
	}
	mapper.serve(gatewayAPIKinds...)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the starter stopped with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the starter did not start the Gateway API controller once its CRDs were served")
	}
	if set.count("t-istio") != 1 || set.count("t-gateway-api") != 1 {
		t.Fatalf("set-ups %v, want each controller set up once", set.n)
	}
	if v := value(t, controllerEnabled.WithLabelValues("t-gateway-api")); v != 1 {
		t.Fatalf("istio_alb_controller_enabled{controller=t-gateway-api} = %v after it started, want 1", v)
	}
}

func TestAControllerThatCannotBeSetUpStopsTheOperatorAndADiscoveryFailureAtStartIsAnError(t *testing.T) {
	mapper := &servedKinds{served: map[schema.GroupVersionKind]bool{}}
	set := &setups{n: map[string]int{}}
	s := newTestStarter(mapper, 10*time.Millisecond,
		optionalController{name: "t-broken", kinds: gatewayAPIKinds, setup: set.of("t-broken", errors.New("name taken"))})
	if err := s.startServed(true); err != nil || !s.waiting() {
		t.Fatalf("startServed: %v, waiting %v; want no error and the controller off", err, s.waiting())
	}
	mapper.serve(gatewayAPIKinds...)
	if err := s.Start(context.Background()); err == nil || isDiscoveryError(err) {
		t.Fatalf("Start returned %v, want the set-up error", err)
	}

	failing := &servedKinds{served: map[schema.GroupVersionKind]bool{}, fail: errors.New("connection refused")}
	s = newTestStarter(failing, 0, optionalController{name: "t-any", kinds: istioKinds, setup: set.of("t-any", nil)})
	if err := s.startServed(true); !isDiscoveryError(err) {
		t.Fatalf("startServed with discovery failing returned %v, want a discovery error", err)
	}
	if !s.waiting() || set.count("t-any") != 0 {
		t.Fatal("a controller was set up although discovery failed")
	}
}

func TestReadinessPassesForAControllerThatIsOff(t *testing.T) {
	s := newTestStarter(&servedKinds{served: map[schema.GroupVersionKind]bool{}}, 0,
		optionalController{name: "t-off", kinds: gatewayAPIKinds, setup: func(manager.Manager) error { return nil }})
	if err := s.startServed(true); err != nil {
		t.Fatal(err)
	}
	if code := readyz(s.readyz()); code != 200 {
		t.Fatalf("/readyz answered %d with a controller off, want 200", code)
	}
}
