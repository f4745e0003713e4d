// Package controllers reconciles annotated gateways (Istio and Gateway API) into ALBs: each kind
// gathers its gateway into one frontend, and one shared pipeline does the rest — gather
// (read-only), plan (pure, aws/build), act (the only side effects), report.
package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// Finalizer holds a Gateway until its AWS resources are deleted and its Service restored.
const Finalizer = "istio-alb.io/cleanup"

// Resolver is what one Gateway kind provides to the pipeline.
type Resolver interface {
	// Kind is the kind's name in the istio-alb.io/gateway tag.
	Kind() string
	// Gather reads the gateway's Kubernetes side into a frontend. What the user must fix is a
	// problem in the frontend; an error is a failure to read.
	Gather(ctx context.Context, gw client.Object) (*frontend.Frontend, error)
	// Service returns the gateway's Service, nil when there is none (teardown restores it).
	Service(ctx context.Context, gw client.Object) (*corev1.Service, error)
}

// StatusWriter is implemented by kinds with a status the operator reports into.
type StatusWriter interface {
	// WriteStatus sets the operator's condition when it changed.
	WriteStatus(ctx context.Context, gw client.Object, st Status) error
}

// Pipeline is the reconcile shared by both Gateway kinds: gather → plan → act → report, and
// teardown, which is the cutover in reverse.
type Pipeline struct {
	Client      client.Client
	Events      events.EventRecorder
	Deployer    *deploy.Deployer
	Discoverer  *ec2.Discoverer
	TLS         *TLS
	DNS         *dns.Syncer
	ClusterName string
	// Policy is the cluster policy: namespaces, schemes, domains, defaults.
	Policy build.Policy
	// Region is the AWS region (certificates must be of it; private hosted zones are
	// associated with a VPC of a region).
	Region string
	// SyncPeriod is how often the drift pass reads the cluster's resources back in one batch and
	// repairs the gateways that drifted.
	SyncPeriod time.Duration
	// FullSyncPeriod is how often each gateway's whole stack (targets, attributes, certificates
	// included) is read back and repaired on its own.
	FullSyncPeriod time.Duration
	// UserErrorRetry is the first delay before a gateway with a user error is planned again
	// (doubling up to MaxUserErrorRetry), so that a fix made in AWS is picked up.
	UserErrorRetry    time.Duration
	MaxUserErrorRetry time.Duration
	// ReconcileTimeout bounds one reconcile; zero means none.
	ReconcileTimeout time.Duration
	// WebACLs tells whether the web ACL a Gateway names exists (cached reads).
	WebACLs *wafv2.WebACLs
	// Resolvers are the Gateway kinds by name, for a group member to plan the other members.
	Resolvers map[string]Resolver
	// GroupLimits are the AWS limits a group's ALB is held to; zero means AWS's.
	GroupLimits build.GroupLimits

	memory
	surveys
}

// Reconcile runs the pipeline for one Gateway object of the resolver's kind.
func (p *Pipeline) Reconcile(ctx context.Context, gw client.Object, r Resolver) (ctrl.Result, error) {
	start := time.Now()
	if p.ReconcileTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.ReconcileTimeout)
		defer cancel()
	}
	unlock := p.lock(r.Kind() + "/" + gw.GetNamespace() + "/" + gw.GetName())
	res, err := p.reconcile(ctx, gw, r)
	unlock()
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
	value, has := gw.GetAnnotations()[annotations.Enabled]
	if !gw.GetDeletionTimestamp().IsZero() || !has || value == "false" {
		if !controllerutil.ContainsFinalizer(gw, Finalizer) {
			p.remember(owner.GatewayKey, nil)
			return ctrl.Result{}, nil
		}
		return p.teardown(ctx, gw, owner, r)
	}
	in, err := p.gather(ctx, gw, owner, r)
	if err != nil {
		return p.failed(ctx, gw, r, phaseGather, err)
	}
	plan, problems := build.Plan(in)
	if len(problems) > 0 {
		return p.rejected(ctx, gw, r, owner, problems)
	}
	p.cleared(owner.GatewayKey)
	if plan.Config.DryRun {
		return p.dryRun(ctx, gw, r, in, plan)
	}
	// A plan reported while the Gateway was a dry run is stale once it is built for real.
	if err := p.annotate(ctx, gw, annotations.DryRunPlan, ""); err != nil {
		return ctrl.Result{}, err
	}
	return p.act(ctx, gw, r, in, plan)
}
