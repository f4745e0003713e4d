// Package controllers reconciles annotated gateways (Istio and Gateway API) into ALBs: each kind
// resolves its gateway into one frontend, and one shared pipeline does the rest.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/controllers/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/controllers/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/health"
)

// Finalizer holds a Gateway until its AWS resources are deleted and its Service restored.
const Finalizer = "istio-alb.io/cleanup"

// Event reasons; stable, since users alert on them.
const (
	ReasonInvalidAnnotation  = "InvalidAnnotation"
	ReasonInvalidGateway     = "InvalidGateway"
	ReasonServiceNotFound    = "ServiceNotFound"
	ReasonAmbiguousService   = "AmbiguousService"
	ReasonStatusPortNotFound = "StatusPortNotFound"
	ReasonNoTargetNodes      = "NoTargetNodes"
	ReasonNetworkNotFound    = "NetworkNotFound"
	ReasonServiceSwitched    = "ServiceSwitchedToNodePort"
	ReasonServiceRestored    = "ServiceRestored"
	ReasonLoadBalancerReady  = "LoadBalancerReady"
	ReasonAWSError           = "AWSError"
	ReasonCleanupWaiting     = "CleanupWaiting"
	ReasonCleanedUp          = "CleanedUp"
	ReasonDNSRecordsSynced   = "DNSRecordsSynced"
	ReasonDNSConflict        = "DNSConflict"
	ReasonWaiting            = "WaitingForService"
)

// waitRetry is how soon a gateway waiting for its Service is looked at again.
const waitRetry = 5 * time.Second

// UserError is a problem the user must fix; it becomes a Warning Event and no retry (the watches
// bring the Gateway back when something relevant changes).
type UserError struct {
	Reason  string
	Message string
}

func (e *UserError) Error() string { return e.Message }

func userErrorf(reason, format string, args ...any) error {
	return &UserError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Resolver is what one Gateway kind provides to the pipeline.
type Resolver interface {
	// Kind is the kind's name in the istio-alb.io/gateway tag.
	Kind() string
	// Resolve finds the gateway's Service and reads the frontend (Service ports excepted).
	Resolve(ctx context.Context, gw client.Object) (*frontend.Frontend, *corev1.Service, error)
	// EnsureNodePort makes the Service NodePort, or asks its owner to (an ErrWaiting while it
	// has not). It returns what it did, for an Event, or "" when nothing changed.
	EnsureNodePort(ctx context.Context, gw client.Object, svc *corev1.Service) (string, error)
	// Release undoes EnsureNodePort at teardown when no other enabled gateway needs it, and
	// returns what it did, or "".
	Release(ctx context.Context, gw client.Object) (string, error)
}

// StatusWriter is implemented by kinds with a status the operator reports into.
type StatusWriter interface {
	// WriteStatus sets the operator's condition; err nil means ready.
	WriteStatus(ctx context.Context, gw client.Object, dnsName string, err error) error
}

// ErrWaiting is a state that resolves itself (istiod has not switched the Service yet): an
// Event, and a look again shortly, rather than an error.
type ErrWaiting struct{ Message string }

func (e *ErrWaiting) Error() string { return e.Message }

// Pipeline is the reconcile shared by both Gateway kinds: resolve → NodePort → health → build →
// deploy → report, and teardown with the same deployer.
type Pipeline struct {
	Client      client.Client
	Events      events.EventRecorder
	Deployer    *deploy.Deployer
	Discoverer  *ec2.Discoverer
	TLS         *TLS
	DNS         *dns.Syncer
	ClusterName string
	// Region is the AWS region (private hosted zones are associated with a VPC of a region).
	Region string
	// SyncPeriod is how often an unchanged gateway's AWS resources are read back and repaired.
	SyncPeriod time.Duration

	mu      sync.Mutex
	applied map[string]appliedState
	// changedAt is when each gateway's desired state was first seen differing from the applied
	// one (istio_alb_gateway_programmed_seconds measures from there).
	changedAt map[string]time.Time
}

// appliedState remembers the last successful apply of a gateway, so that an event-triggered
// reconcile whose desired state is unchanged makes no AWS call.
type appliedState struct {
	hash  string
	at    time.Time
	owned []elbv2.Owned
	dns   string
	// records is the last Route53 sync, nil when unknown (after a restart) or DNS is off.
	records *dns.Outcome
	// releasedFrom is the resourceVersion of the Gateway from which the finalizer was released:
	// the informer cache may still hand that version out, and it needs no second teardown.
	releasedFrom string
}

func (p *Pipeline) state(key string) appliedState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied[key]
}

func (p *Pipeline) remember(key string, s *appliedState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied == nil {
		p.applied = map[string]appliedState{}
	}
	if s == nil {
		delete(p.applied, key)
		delete(p.changedAt, key)
	} else {
		p.applied[key] = *s
	}
	kind := kindOf(key)
	n := 0
	for k, st := range p.applied {
		if kindOf(k) == kind && st.hash != "" {
			n++
		}
	}
	managedGateways.WithLabelValues(kind).Set(float64(n))
}

// pendingSince returns when the gateway's desired state was first seen unapplied.
func (p *Pipeline) pendingSince(key string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changedAt == nil {
		p.changedAt = map[string]time.Time{}
	}
	if _, ok := p.changedAt[key]; !ok {
		p.changedAt[key] = time.Now()
	}
	return p.changedAt[key]
}

func (p *Pipeline) settled(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.changedAt, key)
}

// Reconcile runs the pipeline for one Gateway object of the resolver's kind.
func (p *Pipeline) Reconcile(ctx context.Context, gw client.Object, r Resolver) (ctrl.Result, error) {
	start := time.Now()
	res, err := p.reconcile(ctx, gw, r)
	result := "success"
	switch {
	case err != nil:
		result = "error"
	case res.RequeueAfter > 0 && res.RequeueAfter < p.SyncPeriod:
		result = "requeue"
	}
	observeReconcile(r.Kind(), result, time.Since(start))
	return res, err
}

func (p *Pipeline) reconcile(ctx context.Context, gw client.Object, r Resolver) (ctrl.Result, error) {
	owner := tags.Owner{Cluster: p.ClusterName, GatewayKey: r.Kind() + "/" + gw.GetNamespace() + "/" + gw.GetName()}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("gateway", owner.GatewayKey))
	ann := gw.GetAnnotations()
	value, has := ann[annotations.Enabled]
	if !gw.GetDeletionTimestamp().IsZero() || !has || value == "false" {
		if !controllerutil.ContainsFinalizer(gw, Finalizer) {
			p.remember(owner.GatewayKey, nil)
			return ctrl.Result{}, nil
		}
		return p.teardown(ctx, gw, owner, r)
	}
	cfg, errs := annotations.Parse(ann)
	if len(errs) > 0 {
		return p.fail(ctx, gw, r, &UserError{Reason: ReasonInvalidAnnotation, Message: errs.ToAggregate().Error()})
	}
	stack, tls, err := p.desired(ctx, gw, owner, cfg, r)
	if err != nil {
		return p.fail(ctx, gw, r, err)
	}

	st := p.state(owner.GatewayKey)
	hash := stack.Hash()
	if st.hash == hash && time.Since(st.at) < p.SyncPeriod && controllerutil.ContainsFinalizer(gw, Finalizer) {
		if err := p.publish(ctx, gw, st.dns); err != nil {
			return ctrl.Result{}, err
		}
		if err := p.status(ctx, gw, r, st.dns, nil); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: retryAfter(p.SyncPeriod-time.Since(st.at), tls.retryAfter)}, nil
	}
	since := time.Now()
	if st.hash != hash {
		since = p.pendingSince(owner.GatewayKey)
	}
	if !controllerutil.ContainsFinalizer(gw, Finalizer) {
		controllerutil.AddFinalizer(gw, Finalizer)
		if err := p.Client.Update(ctx, gw); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	res, err := p.Deployer.Apply(ctx, owner, stack, st.owned)
	if err != nil {
		return p.fail(ctx, gw, r, err)
	}
	if st.hash != hash || st.dns != res.LoadBalancer.DNSName {
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonLoadBalancerReady, "Deploy",
			"ALB %s programmed (listeners %s, %d targets)", res.LoadBalancer.DNSName, listenerPorts(stack), countTargets(stack))
	}
	p.report(gw, tls.notes)
	applied := &appliedState{hash: hash, at: time.Now(), owned: res.Owned, dns: res.LoadBalancer.DNSName}
	// Remember the AWS side at once: a DNS failure retries DNS, not the whole stack's writes.
	p.remember(owner.GatewayKey, &appliedState{at: applied.at, owned: res.Owned, dns: applied.dns, records: st.records})
	if stack.DNS != nil {
		out, err := p.DNS.Sync(ctx, dns.Desired{
			Resource: dns.ResourcePrefix + owner.GatewayKey, Names: stack.DNS.Names, Private: stack.DNS.Private,
			VPCID: stack.DNS.VPCID, Region: p.Region, DualStack: stack.DNS.DualStack,
			Target: res.LoadBalancer.DNSName, TargetZoneID: res.LoadBalancer.CanonicalHostedZoneID,
		}, st.records)
		if err != nil {
			return p.fail(ctx, gw, r, err)
		}
		applied.records = &out
		p.reportDNS(gw, out, st.records)
	}
	p.remember(owner.GatewayKey, applied)
	if st.hash != hash {
		programmedSeconds.WithLabelValues(r.Kind()).Observe(time.Since(since).Seconds())
		p.settled(owner.GatewayKey)
	}
	if err := p.publish(ctx, gw, res.LoadBalancer.DNSName); err != nil {
		return ctrl.Result{}, err
	}
	if err := p.status(ctx, gw, r, res.LoadBalancer.DNSName, nil); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: retryAfter(p.SyncPeriod, tls.retryAfter)}, nil
}

func retryAfter(sync, pending time.Duration) time.Duration {
	if pending > 0 && pending < sync {
		return pending
	}
	return sync
}

// reportDNS tells the user what changed in Route53 and which names the gateway may not have.
func (p *Pipeline) reportDNS(gw client.Object, out dns.Outcome, before *dns.Outcome) {
	var notes []note
	if out.Changes > 0 || before == nil || !slices.Equal(before.Names, out.Names) {
		notes = append(notes, note{corev1.EventTypeNormal, ReasonDNSRecordsSynced, fmt.Sprintf(
			"Route53 alias records for %s point at the ALB", strings.Join(out.Names, ", "))})
	}
	for _, c := range out.Conflicts {
		notes = append(notes, note{corev1.EventTypeWarning, ReasonDNSConflict, fmt.Sprintf("host %s left alone: %s", c.Name, c.Reason)})
	}
	if len(out.Names) == 0 && len(out.Conflicts) == 0 && out.Changes == 0 {
		return
	}
	p.report(gw, notes)
}

// report emits the notes of a reconcile that applied something, one Event per reason: the
// recorder folds Events of one reason on one object into a series that keeps only the first
// message, so notes of a reason are joined.
func (p *Pipeline) report(gw client.Object, notes []note) {
	var order []note
	for _, n := range notes {
		i := slices.IndexFunc(order, func(o note) bool { return o.eventType == n.eventType && o.reason == n.reason })
		if i < 0 {
			order = append(order, n)
			continue
		}
		order[i].message += "; " + n.message
	}
	for _, n := range order {
		p.Events.Eventf(gw, nil, n.eventType, n.reason, "Deploy", "%s", n.message)
	}
}

// desired gathers everything and builds the stack. Every check of the user's objects comes
// before the first AWS call, so bad input never creates anything.
func (p *Pipeline) desired(ctx context.Context, gw client.Object, owner tags.Owner, cfg annotations.Config, r Resolver) (*model.Stack, tlsPlan, error) {
	var tls tlsPlan
	fe, svc, err := r.Resolve(ctx, gw)
	if err != nil {
		return nil, tls, err
	}
	// Check the Service's ports before touching it: bad input leaves the Service as it was.
	fe.ServicePorts = servicePorts(svc)
	if _, _, err := fe.Backend(); err != nil {
		return nil, tls, userErrorf(ReasonInvalidGateway, "%v", err)
	}
	if _, found := health.StatusServicePort(fe); !found && cfg.HealthCheck.Port == nil {
		return nil, tls, userErrorf(ReasonStatusPortNotFound, "service %s has no status port (a port named %s or targeting %d); set %s to choose one",
			fe.Service, health.StatusPortName, health.IstioStatusPort, annotations.HealthCheckPort)
	}
	if len(fe.Nodes) == 0 {
		return nil, tls, userErrorf(ReasonNoTargetNodes, "no Ready, schedulable node with an EC2 providerID (aws:///<zone>/<instance-id>)")
	}
	// The certificates and the policy are checked before the Service is touched too.
	if tls, err = p.TLS.plan(ctx, owner, fe, cfg); err != nil {
		return nil, tls, err
	}
	if did, err := r.EnsureNodePort(ctx, gw, svc); err != nil {
		return nil, tls, err
	} else if did != "" {
		p.Events.Eventf(gw, svc, corev1.EventTypeNormal, ReasonServiceSwitched, "SwitchServiceType", "%s", did)
	}
	fe.ServicePorts = servicePorts(svc)
	var ids []string
	for _, n := range fe.Nodes {
		ids = append(ids, n.InstanceID)
	}
	nn, err := p.Discoverer.NodeNetwork(ctx, ids)
	if err != nil {
		return nil, tls, err
	}
	subnets, err := p.Discoverer.Subnets(ctx, nn.VPCID, cfg.Scheme, cfg.Subnets)
	switch {
	case errors.Is(err, ec2.ErrNoUsableNetwork) && len(cfg.Subnets) > 0:
		return nil, tls, userErrorf(ReasonNetworkNotFound, "annotation %s=%q: %v", annotations.Subnets, strings.Join(cfg.Subnets, ","), err)
	case errors.Is(err, ec2.ErrNoUsableNetwork):
		return nil, tls, userErrorf(ReasonNetworkNotFound, "%v (subnets are found by the tags %s or %s)", err, ec2.RoleELB, ec2.RoleInternalELB)
	case err != nil:
		return nil, tls, err
	}
	// Build's own errors (a nodePort not allocated yet) are passing states: retried.
	stack, err := build.Build(owner, fe, cfg, build.Environment{
		VPCID: nn.VPCID, Subnets: subnets, NodeSecurityGroupID: nn.SecurityGroupID,
		Certificates: tls.certificates, SSLPolicy: tls.policy,
	})
	return stack, tls, err
}

// teardown deletes what the gateway owns, restores its Service when no other gateway uses it,
// removes the published DNS name and releases the finalizer.
func (p *Pipeline) teardown(ctx context.Context, gw client.Object, owner tags.Owner, r Resolver) (ctrl.Result, error) {
	st := p.state(owner.GatewayKey)
	if st.releasedFrom != "" && st.releasedFrom == gw.GetResourceVersion() {
		return ctrl.Result{}, nil // a cached copy from before the release: already done
	}
	// Records first: nothing points at an ALB that no longer exists.
	if annotations.DNSEnabled(gw.GetAnnotations()) {
		if _, err := p.DNS.Sync(ctx, dns.Desired{Resource: dns.ResourcePrefix + owner.GatewayKey}, st.records); err != nil {
			p.Events.Eventf(gw, nil, corev1.EventTypeWarning, ReasonAWSError, "Delete", "%v", err)
			return ctrl.Result{}, err
		}
		p.remember(owner.GatewayKey, &appliedState{owned: st.owned, records: &dns.Outcome{}})
	}
	res, err := p.Deployer.Apply(ctx, owner, &model.Stack{}, st.owned)
	if err != nil {
		if errors.Is(err, deploy.ErrNotYet) {
			p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonCleanupWaiting, "Delete", "waiting for AWS to release resources: %v", err)
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		p.Events.Eventf(gw, nil, corev1.EventTypeWarning, ReasonAWSError, "Delete", "%v", err)
		return ctrl.Result{}, err
	}
	// Until the finalizer is released, remember that nothing is left: a retry (a conflict on the
	// finalizer patch) does not read every hosted zone again.
	p.remember(owner.GatewayKey, &appliedState{records: &dns.Outcome{}})
	notes, err := p.TLS.release(ctx, owner, res.Certificates, res.Deleted)
	p.report(gw, notes)
	if err != nil {
		return ctrl.Result{}, err
	}
	if did, err := r.Release(ctx, gw); err != nil {
		return ctrl.Result{}, err
	} else if did != "" {
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonServiceRestored, "RestoreServiceType", "%s", did)
	}
	before := gw.DeepCopyObject().(client.Object)
	releasedFrom := gw.GetResourceVersion()
	ann := gw.GetAnnotations()
	delete(ann, annotations.LoadBalancerDNS)
	gw.SetAnnotations(ann)
	controllerutil.RemoveFinalizer(gw, Finalizer)
	switch err := p.Client.Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); {
	case apierrors.IsConflict(err):
		return ctrl.Result{Requeue: true}, nil
	case err != nil && !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("releasing finalizer: %w", err)
	}
	p.remember(owner.GatewayKey, &appliedState{records: &dns.Outcome{}, releasedFrom: releasedFrom})
	p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonCleanedUp, "Delete", "AWS resources of %s deleted", owner.GatewayKey)
	return ctrl.Result{}, nil
}

// publish writes the ALB's DNS name in the istio-alb.io/load-balancer-dns annotation.
func (p *Pipeline) publish(ctx context.Context, gw client.Object, dns string) error {
	if dns == "" || gw.GetAnnotations()[annotations.LoadBalancerDNS] == dns {
		return nil
	}
	before := gw.DeepCopyObject().(client.Object)
	ann := gw.GetAnnotations()
	ann[annotations.LoadBalancerDNS] = dns
	gw.SetAnnotations(ann)
	if err := p.Client.Patch(ctx, gw, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("publishing %s: %w", annotations.LoadBalancerDNS, err)
	}
	return nil
}

func (p *Pipeline) fail(ctx context.Context, gw client.Object, r Resolver, err error) (ctrl.Result, error) {
	var ue *UserError
	var wait *ErrWaiting
	switch {
	case errors.As(err, &ue):
		p.warn(gw, ue.Reason, ue.Message)
		return ctrl.Result{}, p.status(ctx, gw, r, "", err)
	case errors.As(err, &wait):
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonWaiting, "Deploy", "%s", wait.Message)
		return ctrl.Result{RequeueAfter: waitRetry}, p.status(ctx, gw, r, "", err)
	}
	if errors.Is(err, deploy.ErrNotYet) {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
	}
	if apierrors.IsConflict(err) {
		return ctrl.Result{Requeue: true}, nil
	}
	log.FromContext(ctx).Error(err, "reconcile failed")
	p.Events.Eventf(gw, nil, corev1.EventTypeWarning, ReasonAWSError, "Deploy", "%v", err)
	return ctrl.Result{}, err
}

// status reports into the Gateway's status when its kind has one.
func (p *Pipeline) status(ctx context.Context, gw client.Object, r Resolver, dnsName string, err error) error {
	if sw, ok := r.(StatusWriter); ok {
		if werr := sw.WriteStatus(ctx, gw, dnsName, err); werr != nil && !apierrors.IsConflict(werr) {
			return werr
		}
	}
	return nil
}

func (p *Pipeline) warn(gw client.Object, reason, msg string) {
	p.Events.Eventf(gw, nil, corev1.EventTypeWarning, reason, "Validate", "%s", msg)
}

func listenerPorts(s *model.Stack) string {
	var out []string
	for _, l := range s.Listeners {
		out = append(out, fmt.Sprintf("%s:%d", l.Protocol, l.Port))
	}
	return strings.Join(out, ",")
}

func countTargets(s *model.Stack) int {
	n := 0
	for _, tg := range s.TargetGroups {
		n += len(tg.Targets)
	}
	return n
}
