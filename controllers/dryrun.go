package controllers

import (
	"context"
	"fmt"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// ReasonDryRunPlan is the Event of a dry-run Gateway: the changes its plan would make.
const ReasonDryRunPlan = "DryRunPlan"

// maxDryRunPlan bounds the istio-alb.io/dry-run-plan annotation (an object's annotations may
// take 256 KiB in all).
const maxDryRunPlan = 8 << 10

// serviceChangeAPI names the Kubernetes changes of a plan in its change list.
const serviceChangeAPI = "Kubernetes"

const phaseDryRun = "planning the dry run"

// DryRunResult is what a dry run of one gateway found.
type DryRunResult struct {
	Gateway string `json:"gateway"`
	// Problems are the user errors: with them, nothing would be written.
	Problems []build.Problem `json:"problems,omitempty"`
	// Waiting says what the gateway would wait for (the Service's nodePorts, istiod) after the
	// changes listed.
	Waiting string          `json:"waiting,omitempty"`
	Changes []deploy.Change `json:"changes"`
}

// dryRun reports the changes the plan would make — an Event and the istio-alb.io/dry-run-plan
// annotation — and writes nothing else: no AWS call that changes anything, no Service change,
// no finalizer. A group's refusal (no room, a conflict) is reported as the real run would.
func (p *Pipeline) dryRun(ctx context.Context, gw client.Object, r Resolver, in build.Input, plan *build.GatewayPlan) (ctrl.Result, error) {
	changes, problems, err := p.dryChanges(ctx, gw, in, plan)
	if err != nil {
		return p.failed(ctx, gw, r, phaseDryRun, err)
	}
	if len(problems) > 0 {
		// The group has no room for it, or its settings conflict: as the real run would say.
		return p.rejected(ctx, gw, r, in.Owner, problems)
	}
	text := deploy.FormatChanges(changes, maxDryRunPlan)
	if gw.GetAnnotations()[annotations.DryRunPlan] != text {
		p.Events.Eventf(gw, nil, corev1.EventTypeNormal, ReasonDryRunPlan, "DryRun",
			"dry run, nothing written: %s; see the %s annotation", deploy.Summary(changes), annotations.DryRunPlan)
		if err := p.annotate(ctx, gw, annotations.DryRunPlan, text); err != nil {
			return ctrl.Result{}, err
		}
	}
	// Planned again every sync period: AWS may change meanwhile.
	return ctrl.Result{RequeueAfter: p.SyncPeriod}, nil
}

// annotate sets (or with value "" removes) one annotation of the Gateway.
func (p *Pipeline) annotate(ctx context.Context, gw client.Object, key, value string) error {
	ann := gw.GetAnnotations()
	if old, has := ann[key]; old == value && (has || value == "") {
		return nil
	}
	before := gw.DeepCopyObject().(client.Object)
	if ann == nil {
		ann = map[string]string{}
	}
	if value == "" {
		delete(ann, key)
	} else {
		ann[key] = value
	}
	gw.SetAnnotations(ann)
	if err := p.Client.Patch(ctx, gw, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	return nil
}

// dryChanges runs the act step in dry mode: the same synthesizers, DNS sync and certificate
// requests against clients that read AWS and record their writes (deploy.DryRun); the Service
// changes and the finalizer are listed from the plan. Nothing of the plan is remembered. A group
// member's group is planned as its real run would (problems are the group's refusal).
func (p *Pipeline) dryChanges(ctx context.Context, gw client.Object, in build.Input, plan *build.GatewayPlan) ([]deploy.Change, []build.Problem, error) {
	key := in.Owner.GatewayKey
	d := &deploy.DryRun{Region: p.Region, Account: in.AWS.AccountID}
	if !controllerutil.ContainsFinalizer(gw, Finalizer) {
		d.Add(deploy.Change{Action: deploy.ActionModify, Service: serviceChangeAPI, Operation: "AddFinalizer", Kind: "gateway", Resource: key, Detail: Finalizer})
	}
	service := func(change build.ServiceChange) {
		if change != build.ServiceUnchanged {
			d.Add(deploy.Change{Action: deploy.ActionModify, Service: serviceChangeAPI, Operation: string(change), Kind: "service", Resource: in.Gateway.Service.String()})
		}
	}
	service(plan.Prepare)
	if plan.Waiting != "" || plan.Stack == nil {
		return d.Changes(), nil, nil
	}
	syncer := p.drySyncer(d)
	tls := &TLS{Catalog: &acm.Catalog{API: d.ACM(p.TLS.Catalog.API), TTL: p.TLS.Catalog.TTL}, Policies: p.TLS.Policies,
		ACM: d.ACM(p.TLS.ACM), Tagging: p.TLS.Tagging, DNS: syncer, InDomains: p.TLS.InDomains, DefaultSSLPolicy: p.TLS.DefaultSSLPolicy}
	p.TLS.mu.Lock()
	for arn := range p.TLS.validated {
		tls.markValidated(arn)
	}
	p.TLS.mu.Unlock()
	if _, err := tls.act(ctx, in.Owner, plan); err != nil {
		return d.Changes(), nil, err
	}
	if plan.Config.Group != "" {
		g, problems, err := p.planGroup(ctx, gw, in, plan)
		switch {
		case err != nil:
			return d.Changes(), nil, err
		case len(problems) > 0:
			return d.Changes(), problems, nil
		}
		if err := p.dryGroup(ctx, d, syncer, in.Owner, g); err != nil {
			return d.Changes(), nil, err
		}
		service(plan.Cutover)
		return d.Changes(), nil, nil
	}
	others, err := managedKeys(ctx, p.Client, key)
	if err != nil {
		return d.Changes(), nil, err
	}
	st := p.state(key)
	res, err := d.Deployer(p.Deployer).Apply(ctx, deploy.Request{Owner: in.Owner, Stack: plan.Stack, Known: st.owned, Others: others, KeepReplaced: true})
	if err != nil {
		return d.Changes(), nil, err
	}
	if s := plan.Stack; s.DNS != nil {
		if _, err := syncer.Sync(ctx, p.aliases(key, s.DNS, res.LoadBalancer.DNSName, res.LoadBalancer.CanonicalHostedZoneID), st.records); err != nil {
			return d.Changes(), nil, err
		}
	}
	// The load balancers a scheme change replaces go once the records point at the new one.
	for _, arn := range res.Replaced {
		d.Add(deploy.Change{Action: deploy.ActionDelete, Service: "Elastic Load Balancing v2", Operation: "DeleteLoadBalancer", Kind: "load-balancer", Resource: arn})
	}
	service(plan.Cutover)
	return d.Changes(), nil, nil
}

// dryGroup is programGroup's writes, recorded: the group's shared stack, the member's part on
// its listeners, its records on the group's ALB, and the deletion of an ALB of its own.
func (p *Pipeline) dryGroup(ctx context.Context, d *deploy.DryRun, syncer *dns.Syncer, owner tags.Owner, g *groupApply) error {
	key := owner.GatewayKey
	dd := d.Deployer(p.Deployer)
	groupOthers, err := managedKeys(ctx, p.Client, g.owner.GatewayKey)
	if err != nil {
		return err
	}
	shared, err := dd.Apply(ctx, deploy.Request{Owner: g.owner, Stack: g.shared, Known: p.state(g.owner.GatewayKey).owned, Others: groupOthers})
	if err != nil {
		return err
	}
	others, err := managedKeys(ctx, p.Client, key)
	if err != nil {
		return err
	}
	members, err := p.groupUsers(ctx, g.owner.GatewayKey, shared.LoadBalancer.DNSName)
	if err != nil {
		return err
	}
	st := p.state(key)
	req := deploy.MemberRequest{Owner: owner, Order: g.order, Part: g.part, Listeners: shared.ListenersByPort, Known: st.owned, Others: others, Members: members, KeepOwnALB: true}
	res, err := dd.ApplyMember(ctx, req)
	if err != nil {
		return err
	}
	if rec := g.part.DNS; rec != nil {
		if _, err := syncer.Sync(ctx, p.aliases(key, rec, shared.LoadBalancer.DNSName, shared.LoadBalancer.CanonicalHostedZoneID), st.records); err != nil {
			return err
		}
	}
	if len(res.Replaced) > 0 {
		// The real run's second apply deletes the member's own ALB and security group; the rest is
		// converged by then. Here the recorded creates are not seen by reads, so that apply runs
		// on a recorder of its own and only its deletions are listed.
		again := &deploy.DryRun{Region: d.Region, Account: d.Account}
		req.Known, req.KeepOwnALB, req.Members = res.Owned, false, nil // as the real second apply
		if _, err := again.Deployer(p.Deployer).ApplyMember(ctx, req); err != nil {
			return err
		}
		for _, c := range again.Changes() {
			if c.Action == deploy.ActionDelete {
				d.Add(c)
			}
		}
	}
	return nil
}

// drySyncer is a Syncer like the pipeline's whose Route53 writes go to the dry run; its zone
// list and record views are its own.
func (p *Pipeline) drySyncer(d *deploy.DryRun) *dns.Syncer {
	z := p.DNS.Zones
	return &dns.Syncer{Zones: &dns.Zones{API: d.Route53(z.API), TTL: z.TTL, IDs: z.IDs}, OwnerID: p.DNS.OwnerID,
		PreviousOwnerID: p.DNS.PreviousOwnerID, Window: p.DNS.Window, ViewTTL: p.DNS.ViewTTL}
}

func (t *TLS) markValidated(arn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.validated == nil {
		t.validated = map[string]bool{}
	}
	t.validated[arn] = true
}

// DryRun plans one Gateway (an Istio or a Gateway API one) read through c and lists the changes
// its act step would make, writing nothing: the reconcile of a dry-run Gateway, for the plan
// subcommand.
func (p *Pipeline) DryRun(ctx context.Context, c client.Client, gw client.Object) (DryRunResult, error) {
	var r Resolver
	switch gw.(type) {
	case *istionet.Gateway:
		r = &IstioGatewayReconciler{Client: c, Pipeline: p}
	case *gwapiv1.Gateway:
		r = &GatewayAPIReconciler{Client: c, Pipeline: p}
	default:
		return DryRunResult{}, fmt.Errorf("%T is not a Gateway", gw)
	}
	owner := tags.Owner{Cluster: p.ClusterName, GatewayKey: r.Kind() + "/" + gw.GetNamespace() + "/" + gw.GetName()}
	out := DryRunResult{Gateway: owner.GatewayKey, Changes: []deploy.Change{}}
	in, err := p.gather(ctx, gw, owner, r)
	if err != nil {
		return out, err
	}
	plan, problems := build.Plan(in)
	if len(problems) > 0 {
		out.Problems = problems
		return out, nil
	}
	out.Waiting = plan.Waiting
	out.Changes, out.Problems, err = p.dryChanges(ctx, gw, in, plan)
	return out, err
}

// NewPlanner is a pipeline for dry runs only (the plan subcommand): the operator's AWS clients
// and configuration, reading Kubernetes through c; o is completed here.
func NewPlanner(ctx context.Context, o Options, c client.Client) (*Pipeline, error) {
	if err := o.Complete(); err != nil {
		return nil, err
	}
	limits, err := clients.ParseRateLimits(o.AWSRateLimits)
	if err != nil {
		return nil, err
	}
	aws, err := clients.New(ctx, clients.Options{Region: o.AWSRegion, EndpointURL: o.AWSEndpointURL, Calls: o.AWSCalls, RateLimits: limits})
	if err != nil {
		return nil, err
	}
	return newPipeline(aws, o, c, &events.FakeRecorder{}), nil
}
