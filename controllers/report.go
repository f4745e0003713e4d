package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Event reasons and condition reasons of the pipeline's own steps; stable, since users alert on
// them. The planner's are in aws/build.
const (
	ReasonServiceSwitched    = "ServiceSwitchedToNodePort"
	ReasonNodePortsAllocated = "NodePortsAllocated"
	ReasonServiceRestored    = "ServiceRestored"
	ReasonLoadBalancerReady  = "LoadBalancerReady"
	ReasonCuttingOver        = "CuttingOver"
	// ReasonCutoverHeld is a cutover waiting because names of the gateway are held by other
	// records (which may point at the Service's load balancer).
	ReasonCutoverHeld = "CutoverHeld"
	ReasonAWSError    = "AWSError"
	// ReasonServiceChangeFailed is a failure to change or restore the gateway Service (or to ask
	// istiod to), e.g. refused by an admission policy.
	ReasonServiceChangeFailed = "ServiceChangeFailed"
	// ReasonKubernetesError is a failure to read or write a Kubernetes object.
	ReasonKubernetesError = "KubernetesError"
	ReasonCleanupWaiting  = "CleanupWaiting"
	ReasonCleanedUp       = "CleanedUp"
	// ReasonDeletionProtected is a teardown waiting for the user to turn deletion protection off.
	ReasonDeletionProtected = "DeletionProtected"
	ReasonDNSRecordsSynced  = "DNSRecordsSynced"
	ReasonDNSConflict       = "DNSConflict"
	ReasonWaiting           = "WaitingForService"
)

// Phases of a reconcile, named in the messages of its failures, so that an Event or the
// condition says where a cutover stands.
const (
	phaseGather       = "reading the gateway"
	phaseFinalizer    = "adding the finalizer"
	phasePrepare      = "giving the Service nodePorts"
	phaseCertificates = "requesting certificates"
	phaseBuild        = "building the ALB"
	phaseDNS          = "writing Route53 records"
	phaseCutover      = "cutting the Service over to NodePort"
	phaseRestore      = "restoring the Service"
	phaseTeardown     = "deleting the ALB"
)

// Status is what the operator reports in a Gateway's condition.
type Status struct {
	Ready   bool
	Reason  string
	Message string
}

// rejected reports a plan's problems — one Warning Event per reason, the condition — and looks
// again after a capped, doubling delay: the watches bring the Gateway back when a Kubernetes
// object is fixed, the delay catches a fix made in AWS (a subnet tag, a certificate issued).
func (p *Pipeline) rejected(ctx context.Context, gw client.Object, r Resolver, owner tags.Owner, problems []build.Problem) (ctrl.Result, error) {
	notes := make([]build.Note, 0, len(problems))
	var messages []string
	for _, pr := range problems {
		notes = append(notes, build.Note{Warning: true, Reason: pr.Reason, Message: pr.Message})
		messages = append(messages, pr.Message)
	}
	p.notify(gw, notes)
	if err := p.status(ctx, gw, r, Status{Reason: problems[0].Reason, Message: strings.Join(messages, "; ")}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: p.userErrorRetry(p.rejectedAgain(owner.GatewayKey))}, nil
}

// userErrorRetry is the delay before the n-th look at a gateway with user errors.
func (p *Pipeline) userErrorRetry(n int) time.Duration {
	d := p.UserErrorRetry
	for i := 1; i < n && d < p.MaxUserErrorRetry; i++ {
		d *= 2
	}
	return min(d, p.MaxUserErrorRetry)
}

// waiting reports a state that resolves itself and looks again shortly.
func (p *Pipeline) waiting(ctx context.Context, gw client.Object, r Resolver, msg string) (ctrl.Result, error) {
	p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonWaiting, "Deploy", "%s", msg)
	if err := p.status(ctx, gw, r, Status{Reason: ReasonWaiting, Message: msg}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: waitRetry}, nil
}

// failed reports a failure of a step (an AWS or API error) and hands it to controller-runtime's
// backoff; AWS still releasing a dependency and write conflicts are retried without a Warning.
func (p *Pipeline) failed(ctx context.Context, gw client.Object, r Resolver, phase string, err error) (ctrl.Result, error) {
	switch {
	case errors.Is(err, deploy.ErrNotYet):
		return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
	case apierrors.IsConflict(err):
		return ctrl.Result{Requeue: true}, nil
	}
	log.FromContext(ctx).Error(err, "reconcile failed", "phase", phase)
	msg := fmt.Sprintf("%s: %v", phase, err)
	reason := ReasonAWSError
	switch phase {
	case phasePrepare, phaseCutover, phaseRestore:
		reason = ReasonServiceChangeFailed
	case phaseGather, phaseFinalizer:
		if !clients.IsAWS(err) {
			reason = ReasonKubernetesError
		}
	}
	p.Events.Eventf(gw, nil, corev1.EventTypeWarning, reason, "Deploy", "%s", msg)
	if serr := p.status(ctx, gw, r, Status{Reason: reason, Message: msg}); serr != nil {
		log.FromContext(ctx).Error(serr, "writing status")
	}
	return ctrl.Result{}, err
}

// reportDNS tells the user what changed in Route53 and which names the gateway may not have.
func (p *Pipeline) reportDNS(gw client.Object, out dns.Outcome, before *dns.Outcome) {
	var notes []build.Note
	if out.Changes > 0 || before == nil || !slices.Equal(before.Names, out.Names) {
		notes = append(notes, build.Note{Reason: ReasonDNSRecordsSynced, Message: fmt.Sprintf(
			"Route53 alias records for %s point at the ALB", strings.Join(out.Names, ", "))})
	}
	for _, c := range out.Conflicts {
		notes = append(notes, build.Note{Warning: true, Reason: ReasonDNSConflict, Message: fmt.Sprintf("host %s left alone: %s", c.Name, c.Reason)})
	}
	if len(out.Names) == 0 && len(out.Conflicts) == 0 && out.Changes == 0 {
		return
	}
	p.notify(gw, notes)
}

// notify emits notes as Events, one per type and reason: the recorder folds Events of one reason
// on one object into a series that keeps only the first message, so notes of a reason are joined.
func (p *Pipeline) notify(gw client.Object, notes []build.Note) {
	var order []build.Note
	for _, n := range notes {
		i := slices.IndexFunc(order, func(o build.Note) bool { return o.Warning == n.Warning && o.Reason == n.Reason })
		if i < 0 {
			order = append(order, n)
			continue
		}
		order[i].Message += "; " + n.Message
	}
	for _, n := range order {
		eventType := corev1.EventTypeNormal
		if n.Warning {
			eventType = corev1.EventTypeWarning
		}
		p.Events.Eventf(gw, nil, eventType, n.Reason, "Reconcile", "%s", n.Message)
	}
}

// publish writes the ALB's DNS name in the istio-alb.io/load-balancer-dns annotation.
func (p *Pipeline) publish(ctx context.Context, gw client.Object, dnsName string) error {
	if dnsName == "" || gw.GetAnnotations()[annotations.LoadBalancerDNS] == dnsName {
		return nil
	}
	before := gw.DeepCopyObject().(client.Object)
	ann := gw.GetAnnotations()
	ann[annotations.LoadBalancerDNS] = dnsName
	gw.SetAnnotations(ann)
	if err := p.Client.Patch(ctx, gw, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("publishing %s: %w", annotations.LoadBalancerDNS, err)
	}
	return nil
}

// status reports into the Gateway's status when its kind has one; a conflict (istiod wrote
// meanwhile) is left to the next reconcile.
func (p *Pipeline) status(ctx context.Context, gw client.Object, r Resolver, st Status) error {
	if sw, ok := r.(StatusWriter); ok {
		if err := sw.WriteStatus(ctx, gw, st); err != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}
