package controllers

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// waitRetry is how soon a gateway waiting for its Service (istiod, nodePorts) is looked at again.
const waitRetry = 5 * time.Second

// act carries out a complete plan, the only place with side effects: the finalizer first, then
// the Service changes that give it nodePorts without touching its traffic, ACM, the AWS stack
// in dependency order, the Route53 records, and only when all of those exist the cutover of the
// Service to NodePort.
func (p *Pipeline) act(ctx context.Context, gw client.Object, r Resolver, in build.Input, plan *build.GatewayPlan) (ctrl.Result, error) {
	key := in.Owner.GatewayKey
	if err := p.addFinalizer(ctx, gw); err != nil {
		return p.failed(ctx, gw, r, phaseFinalizer, err)
	}
	if plan.Prepare != build.ServiceUnchanged {
		if err := p.changeService(ctx, gw, in, plan.Prepare); err != nil {
			return p.failed(ctx, gw, r, phasePrepare, err)
		}
	}
	if plan.Waiting != "" || plan.Stack == nil {
		msg := plan.Waiting
		if msg == "" {
			msg = fmt.Sprintf("waiting for Service %s to get its nodePorts", in.Gateway.Service)
		}
		return p.waiting(ctx, gw, r, msg)
	}
	notes, err := p.TLS.act(ctx, in.Owner, plan)
	p.notify(gw, notes)
	if err != nil {
		return p.failed(ctx, gw, r, phaseCertificates, err)
	}

	st := p.state(key)
	hash := plan.Stack.Hash()
	lbDNS := st.dns
	var group *groupApply
	if plan.Config.Group != "" {
		g, problems, err := p.planGroup(ctx, gw, in, plan)
		switch {
		case err != nil:
			return p.failed(ctx, gw, r, phaseGather, err)
		case len(problems) > 0:
			return p.rejected(ctx, gw, r, in.Owner, problems)
		}
		group, hash = g, g.hash
	}
	if !p.known(key) && group == nil {
		// Nothing remembered (a start): the drift pass's survey may show the stack as it is,
		// and spare this gateway reading its resources on its own.
		if adopted, dnsName, err := p.adopt(ctx, gw, in, plan, hash); err != nil {
			return p.failed(ctx, gw, r, phaseBuild, err)
		} else if adopted {
			st, lbDNS = p.state(key), dnsName
		}
	}
	programmed := st.hash != hash || st.at.IsZero() || time.Since(st.at) >= 2*p.SyncPeriod || time.Since(st.fullAt) >= p.FullSyncPeriod
	if programmed {
		since := time.Now()
		if st.hash != hash {
			since = p.pendingSince(key)
		}
		if group != nil {
			lbDNS, err = p.programGroup(ctx, gw, in.Owner, plan, st, group)
		} else {
			lbDNS, err = p.program(ctx, gw, in.Owner, plan, st)
			left := st.group
			if left == "" && err == nil {
				left = p.groupPublished(ctx, gw, lbDNS)
			}
			if err == nil && left != "" {
				// It left its group: its records point at its own ALB now, its rules go.
				if err = p.leaveGroup(ctx, gw, in.Owner, left); err != nil {
					p.update(key, func(s *appliedState) { s.hash, s.group = "", left })
				}
			}
		}
		if err != nil {
			return p.failed(ctx, gw, r, phaseBuild, err)
		}
		if st.hash != hash {
			programmedSeconds.WithLabelValues(r.Kind()).Observe(time.Since(since).Seconds())
			p.settled(key)
		}
	}

	if plan.Cutover != build.ServiceUnchanged {
		if held := heldNames(p.state(key).records); len(held) > 0 {
			// Those names may point at the Service's load balancer now: switching the Service
			// would take them down. The cutover waits until they are the gateway's.
			msg := fmt.Sprintf("cutover of Service %s held: the gateway's names %s are held by other records (see DNSConflict); the Service keeps its load balancer until they point at the ALB %s, or set %s=true to run both",
				in.Gateway.Service, strings.Join(held, ", "), lbDNS, annotations.KeepServiceType)
			p.Events.Eventf(gw, nil, corev1.EventTypeWarning, ReasonCutoverHeld, "Cutover", "%s", msg)
			if err := p.status(ctx, gw, r, Status{Reason: ReasonCutoverHeld, Message: msg}); err != nil {
				return ctrl.Result{}, err
			}
			if err := p.publish(ctx, gw, lbDNS); err != nil {
				return ctrl.Result{}, err
			}
			// The next look reads Route53 again: the names may have been freed meanwhile.
			again := p.state(key)
			again.at = time.Time{}
			p.remember(key, &again)
			return ctrl.Result{RequeueAfter: p.userErrorRetry(p.rejectedAgain(key))}, nil
		}
		if err := p.status(ctx, gw, r, Status{Reason: ReasonCuttingOver, Message: fmt.Sprintf(
			"ALB %s and its records are ready; switching Service %s to NodePort", lbDNS, in.Gateway.Service)}); err != nil {
			return ctrl.Result{}, err
		}
		if err := p.changeService(ctx, gw, in, plan.Cutover); err != nil {
			return p.failed(ctx, gw, r, phaseCutover, err)
		}
	}
	// The condition first: whoever waits for the annotation finds the condition ready too.
	if sw, ok := r.(StatusWriter); ok {
		switch err := sw.WriteStatus(ctx, gw, Status{Ready: true, Reason: ReasonLoadBalancerReady, Message: "ALB " + lbDNS}); {
		case apierrors.IsConflict(err):
			return ctrl.Result{Requeue: true}, nil // istiod wrote meanwhile: again, with its version
		case err != nil:
			return ctrl.Result{}, err
		}
	}
	if err := p.publish(ctx, gw, lbDNS); err != nil {
		return ctrl.Result{}, err
	}
	// The next look: the drift check a sync period after the last apply, sooner while a
	// certificate is pending.
	// The next look of its own: the drift pass looks every sync period; this gateway again when
	// its full check is due, or when the pass missed it twice.
	st = p.state(key)
	after := max(min(p.FullSyncPeriod-time.Since(st.fullAt), 2*p.SyncPeriod-time.Since(st.at)), time.Second)
	if plan.RetryAfter > 0 && plan.RetryAfter < after {
		after = plan.RetryAfter
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// program applies the stack to AWS and syncs its Route53 records, remembering each part as soon
// as it is done (a DNS failure retries DNS, not the whole stack's writes). It returns the ALB's
// DNS name.
func (p *Pipeline) program(ctx context.Context, gw client.Object, owner tags.Owner, plan *build.GatewayPlan, st appliedState) (string, error) {
	key := owner.GatewayKey
	stack := plan.Stack
	others, err := managedKeys(ctx, p.Client, key)
	if err != nil {
		return "", err
	}
	verify := st.hash == stack.Hash() // a drift check: the stack did not change, its time came
	res, err := p.Deployer.Apply(ctx, deploy.Request{Owner: owner, Stack: stack, Known: st.owned, Others: others, Verify: verify, KeepReplaced: true})
	if err != nil {
		// What exists now is remembered (the tagging API may not list a fresh resource yet); the
		// empty hash makes the next reconcile apply again.
		p.remember(key, &appliedState{owned: res.Owned, dns: st.dns, records: st.records})
		return "", err
	}
	hash := stack.Hash()
	if st.hash != hash || st.dns != res.LoadBalancer.DNSName {
		kept := ""
		if plan.Config.KeepServiceType {
			kept = "; the Service's type is kept (istio-alb.io/keep-service-type)"
		}
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonLoadBalancerReady, "Deploy",
			"ALB %s programmed (listeners %s, %d targets)%s", res.LoadBalancer.DNSName, listenerPorts(stack), countTargets(stack), kept)
		p.notify(gw, plan.Notes)
	}
	now := time.Now()
	applied := &appliedState{hash: hash, at: now, fullAt: now, stack: stack, owned: res.Owned, listeners: res.Listeners, dns: res.LoadBalancer.DNSName}
	p.remember(key, &appliedState{at: applied.at, owned: res.Owned, dns: applied.dns, records: st.records})
	if stack.DNS != nil {
		if verify {
			p.DNS.Forget()
		}
		out, err := p.DNS.Sync(ctx, p.aliases(key, stack.DNS, res.LoadBalancer.DNSName, res.LoadBalancer.CanonicalHostedZoneID), st.records)
		if err != nil {
			return res.LoadBalancer.DNSName, fmt.Errorf("%s: %w", phaseDNS, err)
		}
		applied.records = &out
		p.reportDNS(gw, out, st.records)
	}
	if len(res.Replaced) > 0 {
		// The records point at the new load balancer now: the one it replaces can go.
		again, err := p.Deployer.Apply(ctx, deploy.Request{Owner: owner, Stack: stack, Known: res.Owned, Others: others})
		if err != nil {
			p.remember(key, &appliedState{owned: again.Owned, dns: applied.dns, records: applied.records})
			return res.LoadBalancer.DNSName, err
		}
		applied.owned, applied.listeners = again.Owned, again.Listeners
	}
	p.remember(key, applied)
	return res.LoadBalancer.DNSName, nil
}

// changeService makes one Service change of the plan and tells the user.
func (p *Pipeline) changeService(ctx context.Context, gw client.Object, in build.Input, change build.ServiceChange) error {
	var msg string
	var err error
	if change == build.ServiceAskIstiod {
		msg, err = askIstiod(ctx, p.Client, gw)
	} else {
		msg, err = changeService(ctx, p.Client, in.Gateway.Service, change)
	}
	if err != nil || msg == "" {
		return err
	}
	reason := ReasonServiceSwitched
	if change == build.ServiceAllocateNodePorts {
		reason = ReasonNodePortsAllocated
	}
	p.Events.Eventf(gw, nil, corev1.EventTypeNormal, reason, string(change), "%s", msg)
	return nil
}

// addFinalizer adds the finalizer with a patch (an Update would drop fields newer than the
// operator's compiled types), under optimistic locking so no other finalizer is lost.
func (p *Pipeline) addFinalizer(ctx context.Context, gw client.Object) error {
	if controllerutil.ContainsFinalizer(gw, Finalizer) {
		return nil
	}
	before := gw.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(gw, Finalizer)
	if err := p.Client.Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

func listenerPorts(s *model.Stack) string {
	var out string
	for i, l := range s.Listeners {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("%s:%d", l.Protocol, l.Port)
	}
	return out
}

func countTargets(s *model.Stack) int {
	n := 0
	for _, tg := range s.TargetGroups {
		n += len(tg.Targets)
	}
	return n
}

// heldNames are the names of the last Route53 sync that records of someone else hold.
func heldNames(out *dns.Outcome) []string {
	if out == nil {
		return nil
	}
	var held []string
	for _, c := range out.Conflicts {
		if c.Held {
			held = append(held, c.Name)
		}
	}
	return held
}

// aliases is what the gateway's records are to be: its names as aliases of the ALB (target and
// its hosted zone), owned under the gateway's key.
func (p *Pipeline) aliases(key string, d *model.DNS, target, targetZoneID string) dns.Desired {
	return dns.Desired{Resource: dns.ResourcePrefix + key, Names: d.Names, Private: d.Private, VPCID: d.VPCID,
		Region: p.Region, DualStack: d.DualStack, Target: target, TargetZoneID: targetZoneID}
}
