package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// teardown is the cutover in reverse: the Service gets back what it had (unless another enabled
// gateway of either kind is built on it) while the ALB still carries the traffic, then the
// records go, then the ALB and everything it used, then the finalizer.
func (p *Pipeline) teardown(ctx context.Context, gw client.Object, owner tags.Owner, r Resolver) (ctrl.Result, error) {
	st := p.state(owner.GatewayKey)
	if st.releasedFrom != "" && st.releasedFrom == gw.GetResourceVersion() {
		return ctrl.Result{}, nil // a cached copy from before the release: already done
	}
	if err := p.restore(ctx, gw, r); err != nil {
		return p.failed(ctx, gw, r, phaseRestore, err)
	}
	if annotations.DNSEnabled(gw.GetAnnotations()) {
		if _, err := p.DNS.Sync(ctx, dns.Desired{Resource: dns.ResourcePrefix + owner.GatewayKey}, st.records); err != nil {
			return p.failed(ctx, gw, r, phaseTeardown, fmt.Errorf("%s: %w", phaseDNS, err))
		}
		p.remember(owner.GatewayKey, &appliedState{owned: st.owned, records: &dns.Outcome{}})
	}
	cfg, _ := annotations.Parse(gw.GetAnnotations())
	protected := cfg.LoadBalancerAttributes[annotations.DeletionProtection] == "true"
	others, err := managedKeys(ctx, p.Client, owner.GatewayKey)
	if err != nil {
		return p.failed(ctx, gw, r, phaseTeardown, err)
	}
	var res deploy.Result
	if groupKeyOf(gw) != "" {
		res, err = p.teardownGroupMember(ctx, gw, owner, r, st, others)
	} else {
		res, err = p.Deployer.Apply(ctx, deploy.Request{Owner: owner, Stack: &model.Stack{}, Known: st.owned,
			Names: p.teardownNames(ctx, gw, owner, r), KeepProtected: protected, Others: others})
	}
	if err != nil {
		p.remember(owner.GatewayKey, &appliedState{owned: res.Owned, records: &dns.Outcome{}})
		switch {
		case errors.Is(err, deploy.ErrNotYet):
			p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonCleanupWaiting, "Delete", "waiting for AWS to release resources: %v", err)
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		case errors.Is(err, elbv2.ErrDeletionProtected):
			p.Events.Eventf(gw, nil, corev1.EventTypeWarning, ReasonDeletionProtected, "Delete",
				"%v; the Gateway's annotation %s sets %s=true: set it to false (or remove it) to let the teardown finish",
				err, annotations.LoadBalancerAttributes, annotations.DeletionProtection)
			return ctrl.Result{RequeueAfter: p.userErrorRetry(p.rejectedAgain(owner.GatewayKey))}, nil
		}
		return p.failed(ctx, gw, r, phaseTeardown, err)
	}
	p.cleared(owner.GatewayKey)
	// Until the finalizer is released, remember that nothing is left: a retry (a conflict on the
	// finalizer patch) does not read every hosted zone again.
	p.remember(owner.GatewayKey, &appliedState{records: &dns.Outcome{}})
	notes, kept, err := p.TLS.release(ctx, owner, res.Certificates, res.Deleted)
	p.notify(gw, notes)
	if err != nil {
		return p.failed(ctx, gw, r, phaseTeardown, err)
	}
	// The validation records go with the certificates (a certificate kept in use elsewhere
	// keeps them: ACM renews it through them).
	if (len(res.Certificates) > 0 || cfg.RequestCertificate) && kept == 0 {
		if err := p.DNS.RemoveRecords(ctx, dns.ValidationResource(owner.GatewayKey)); err != nil {
			return p.failed(ctx, gw, r, phaseTeardown, fmt.Errorf("%s: %w", phaseDNS, err))
		}
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

// restore undoes the operator's Service changes for a gateway that goes: istiod's Service through
// the Gateway annotation the operator added, a Service the operator switched by putting back every
// recorded field — unless another enabled gateway of either kind is built on it.
func (p *Pipeline) restore(ctx context.Context, gw client.Object, r Resolver) error {
	if msg, err := releaseIstiod(ctx, p.Client, gw); err != nil {
		return err
	} else if msg != "" {
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonServiceRestored, "RestoreServiceType", "%s", msg)
	}
	svc, err := r.Service(ctx, gw)
	if err != nil || svc == nil {
		return err
	}
	if _, switched := recorded(svc); !switched {
		return nil
	}
	users, err := serviceUsers(ctx, p.Client, svc, gw.GetUID())
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return nil
	}
	msg, err := restoreService(ctx, p.Client, svc)
	if err != nil || msg == "" {
		return err
	}
	p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonServiceRestored, "RestoreServiceType", "%s", msg)
	return nil
}

// teardownNames are the names the gateway's resources can have, looked up besides the tags: the
// ALB's of both schemes, the security group's, and the target groups' of the plan the gateway has
// now (when it still plans), so that a resource created moments before — which the tagging API
// may not list yet — is found and deleted.
func (p *Pipeline) teardownNames(ctx context.Context, gw client.Object, owner tags.Owner, r Resolver) deploy.Names {
	names := deploy.Names{LoadBalancers: build.LoadBalancerNames(owner), SecurityGroups: []string{build.SecurityGroupName(owner)}}
	in, err := p.gather(ctx, gw, owner, r)
	if err != nil {
		return names
	}
	if plan, problems := build.Plan(in); len(problems) == 0 && plan.Stack != nil {
		for _, tg := range plan.Stack.TargetGroups {
			names.TargetGroups = append(names.TargetGroups, tg.Name)
		}
	}
	return names
}
