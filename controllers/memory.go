package controllers

import (
	"sync"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// memory is what the pipeline remembers of each gateway between reconciles, so that an
// event-triggered reconcile whose desired state is unchanged makes no AWS call. It is a cache:
// after a restart everything is read again.
type memory struct {
	mu      sync.Mutex
	applied map[string]appliedState
	// changedAt is when each gateway's desired state was first seen differing from the applied
	// one (istio_alb_gateway_programmed_seconds measures from there).
	changedAt map[string]time.Time
	// rejections counts the reconciles in a row that found user errors (their retry backs off).
	rejections map[string]int
	// locks keep a gateway's reconcile and the drift pass's work on its records apart.
	locks map[string]*sync.Mutex
	// groupNow is what each group's listeners held when last read (see Pipeline.groupNow).
	groupNow map[string]groupRead
}

// lock holds the gateway for the caller until the returned function is called.
func (m *memory) lock(key string) func() {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*sync.Mutex{}
	}
	l := m.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[key] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// known reports whether anything is remembered of the gateway in this process.
func (m *memory) known(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.applied[key]
	return ok
}

// appliedState remembers the last successful apply of a gateway.
type appliedState struct {
	hash string
	// at is when the stack was last found as applied (an apply, a drift pass); zero asks the
	// next reconcile to apply it.
	at time.Time
	// fullAt is when the whole stack was last read back and written (an apply): targets,
	// attributes and certificates are not in the drift pass's survey.
	fullAt time.Time
	// stack is what was applied, for the drift pass to compare with.
	stack *model.Stack
	owned []elbv2.Owned
	// listeners are the load balancer's listener ARNs, for the drift pass to read in batches.
	listeners []string
	dns       string
	// records is the last Route53 sync, nil when unknown (after a restart) or DNS is off.
	records *dns.Outcome
	// releasedFrom is the resourceVersion of the Gateway from which the finalizer was released:
	// the informer cache may still hand that version out, and it needs no second teardown.
	releasedFrom string
	// group is the key of the group the gateway was last applied in, "" for none: a gateway
	// that leaves its group takes its rules off the group's ALB.
	group string
}

func (m *memory) state(key string) appliedState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied[key]
}

func (m *memory) remember(key string, s *appliedState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied == nil {
		m.applied = map[string]appliedState{}
	}
	if s == nil {
		delete(m.applied, key)
		delete(m.changedAt, key)
		delete(m.rejections, key)
	} else {
		m.applied[key] = *s
	}
	kind := kindOf(key)
	if kind == build.GroupKind {
		return // a group's shared stack is not a gateway
	}
	n := 0
	for k, st := range m.applied {
		if kindOf(k) == kind && st.hash != "" {
			n++
		}
	}
	managedGateways.WithLabelValues(kind).Set(float64(n))
}

// pendingSince returns when the gateway's desired state was first seen unapplied.
func (m *memory) pendingSince(key string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.changedAt == nil {
		m.changedAt = map[string]time.Time{}
	}
	if _, ok := m.changedAt[key]; !ok {
		m.changedAt[key] = time.Now()
	}
	return m.changedAt[key]
}

func (m *memory) settled(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.changedAt, key)
}

// rejectedAgain counts one more reconcile in a row with user errors and returns the count.
func (m *memory) rejectedAgain(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rejections == nil {
		m.rejections = map[string]int{}
	}
	m.rejections[key]++
	return m.rejections[key]
}

// cleared forgets the user errors of a gateway whose plan is complete again.
func (m *memory) cleared(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rejections, key)
}

// wasRejected reports whether the last plan of the gateway had user errors: its next gather
// reads AWS afresh, since the fix may have been made there.
func (m *memory) wasRejected(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rejections[key] > 0
}

// programmedStates returns the gateways with an applied stack, by key.
func (m *memory) programmedStates() map[string]appliedState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]appliedState{}
	for k, st := range m.applied {
		if st.stack != nil && st.hash != "" {
			out[k] = st
		}
	}
	return out
}

// update changes a gateway's remembered state, if it has one.
func (m *memory) update(key string, change func(*appliedState)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.applied[key]; ok {
		change(&st)
		m.applied[key] = st
	}
}
