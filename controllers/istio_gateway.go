package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// IstioGatewayReconciler reconciles networking.istio.io/v1 Gateways.
type IstioGatewayReconciler struct {
	Client   client.Client
	Pipeline *Pipeline
	// WatchNamespace limits the Gateways served; empty means all.
	WatchNamespace string
	// MaxConcurrentReconciles is how many Gateways are reconciled at once.
	MaxConcurrentReconciles int
	// Drifted are the Gateways the drift pass found drifted.
	Drifted <-chan event.GenericEvent
}

// Kind implements Resolver.
func (r *IstioGatewayReconciler) Kind() string { return frontend.KindIstio }

// Reconcile implements reconcile.Reconciler.
func (r *IstioGatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gw istionet.Gateway
	if err := r.Client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return r.Pipeline.Reconcile(ctx, &gw, r)
}

// Gather implements Resolver: the Service whose selector picks only the gateway's pods, the
// readiness probe of the gateway Deployment, the servers, the bound VirtualServices and the
// target nodes. What the user must fix becomes a problem of the frontend.
func (r *IstioGatewayReconciler) Gather(ctx context.Context, obj client.Object) (*frontend.Frontend, error) {
	gw := obj.(*istionet.Gateway)
	fe := &frontend.Frontend{Kind: frontend.KindIstio, Namespace: gw.Namespace, Name: gw.Name}
	for _, s := range gw.Spec.GetServers() {
		if s.GetPort() == nil {
			continue
		}
		server := frontend.Server{
			Port: int32(s.GetPort().GetNumber()), Protocol: strings.ToUpper(s.GetPort().GetProtocol()), Hosts: s.GetHosts(),
		}
		// tls on an HTTP server only asks for httpsRedirect; on HTTPS and TLS servers its mode
		// (PASSTHROUGH when unset) says who terminates TLS.
		if server.Protocol == "HTTPS" || server.Protocol == "TLS" {
			server.TLSMode = s.GetTls().GetMode().String()
		} else {
			server.HTTPSRedirect = s.GetTls().GetHttpsRedirect()
		}
		fe.Servers = append(fe.Servers, server)
	}
	var vss istionet.VirtualServiceList
	if err := r.Client.List(ctx, &vss); err != nil {
		return nil, fmt.Errorf("listing virtualservices: %w", err)
	}
	fe.Routes = routeHosts(gw, vss.Items)
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	fe.Nodes = TargetNodes(nodes.Items)

	selector := gw.Spec.GetSelector()
	if len(selector) == 0 {
		fe.Problems = append(fe.Problems, frontend.Problem{Reason: build.ReasonInvalidGateway, Message: "spec.selector is empty: the Gateway selects no gateway pods"})
		return fe, nil
	}
	svcs, err := r.servicesFor(ctx, selector)
	if err != nil {
		return nil, err
	}
	switch len(svcs) {
	case 0:
		msg := fmt.Sprintf("no Service selects the gateway pods of selector %s", formatLabels(selector))
		if r.WatchNamespace != "" {
			msg += fmt.Sprintf(" in namespace %s (the operator watches only that namespace: --watch-namespace)", r.WatchNamespace)
		}
		fe.Problems = append(fe.Problems, frontend.Problem{Reason: build.ReasonServiceNotFound, Message: msg})
		return fe, nil
	case 1:
	default:
		var names []string
		for _, s := range svcs {
			names = append(names, s.Namespace+"/"+s.Name)
		}
		fe.Problems = append(fe.Problems, frontend.Problem{Reason: build.ReasonAmbiguousService,
			Message: fmt.Sprintf("selector %s matches several Services (%s)", formatLabels(selector), strings.Join(names, ", "))})
		return fe, nil
	}
	svc := svcs[0]
	describeService(fe, svc, frontend.ServiceOwnerOperator)
	if fe.Probe, err = probeOf(ctx, r.Client, svc.Namespace, selector); err != nil {
		return nil, err
	}
	if err := gatherWorkloads(ctx, r.Client, fe, svc); err != nil {
		return nil, err
	}
	return fe, nil
}

// Service implements Resolver: the one Service whose selector picks the gateway's pods.
func (r *IstioGatewayReconciler) Service(ctx context.Context, obj client.Object) (*corev1.Service, error) {
	gw := obj.(*istionet.Gateway)
	if len(gw.Spec.GetSelector()) == 0 {
		return nil, nil
	}
	svcs, err := r.servicesFor(ctx, gw.Spec.GetSelector())
	if err != nil || len(svcs) != 1 {
		return nil, err
	}
	return svcs[0], nil
}

// selects reports whether the Service's pods are all gateway pods: every label of the Gateway's
// selector is required by the Service's selector too.
func selects(svc *corev1.Service, gatewaySelector map[string]string) bool {
	if len(gatewaySelector) == 0 || len(svc.Spec.Selector) == 0 {
		return false
	}
	for k, v := range gatewaySelector {
		if svc.Spec.Selector[k] != v {
			return false
		}
	}
	return true
}

// servicesFor returns the Services whose pods are the selector's, in every namespace, or with
// --watch-namespace in that one only (the cache holds no other, and the RBAC may allow no other).
func (r *IstioGatewayReconciler) servicesFor(ctx context.Context, selector map[string]string) ([]*corev1.Service, error) {
	var list corev1.ServiceList
	var opts []client.ListOption
	if r.WatchNamespace != "" {
		opts = append(opts, client.InNamespace(r.WatchNamespace))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	var out []*corev1.Service
	for i := range list.Items {
		s := &list.Items[i]
		if s.DeletionTimestamp.IsZero() && selects(s, selector) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}

// probeOf returns the HTTP readiness probe of the gateway Deployment whose pods the selector
// picks (its istio-proxy container first), looked up in the Service's namespace.
func probeOf(ctx context.Context, c client.Client, namespace string, selector map[string]string) (*frontend.Probe, error) {
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for _, d := range list.Items {
		if !containsLabels(d.Spec.Template.Labels, selector) {
			continue
		}
		containers := append([]corev1.Container(nil), d.Spec.Template.Spec.Containers...)
		sort.SliceStable(containers, func(i, j int) bool { return containers[i].Name == "istio-proxy" && containers[j].Name != "istio-proxy" })
		for _, c := range containers {
			if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
				return &frontend.Probe{Path: p.HTTPGet.Path, Port: p.HTTPGet.Port, Scheme: string(p.HTTPGet.Scheme)}, nil
			}
		}
	}
	return nil, nil
}

func containsLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func formatLabels(m map[string]string) string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// SetupWithManager registers the controller, the field indexes its watches use and the watches
// that bring a Gateway back when its Service, its Service's EndpointSlices (ip targets), gateway
// Deployment, bound VirtualServices or the nodes change.
func (r *IstioGatewayReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &istionet.Gateway{}, indexManaged, managedIndex); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &istionet.Gateway{}, indexSelector, func(o client.Object) []string {
		return pairs(o.(*istionet.Gateway).Spec.GetSelector())
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Pipeline.Policy.SelectsNamespaces() {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			if r.WatchNamespace != "" && o.GetName() != r.WatchNamespace {
				return nil
			}
			return gatewaysWhere(ctx, r.Client, &istionet.GatewayList{}, o.GetName(), indexManaged, []string{"true"}, func(*istionet.Gateway) bool { return true })
		}), builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	return b.
		Named(IstioControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		WatchesRawSource(source.Channel(r.Drifted, &handler.EnqueueRequestForObject{})).
		For(&istionet.Gateway{}, builder.WithPredicates(predicate.NewPredicateFuncs(r.inScope))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			svc := o.(*corev1.Service)
			return r.gatewaysWhere(ctx, indexSelector, pairs(svc.Spec.Selector), func(gw *istionet.Gateway) bool { return selects(svc, gw.Spec.GetSelector()) })
		})).
		// ip targets follow the gateway pods' ready endpoints.
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfEndpointSlice), builder.WithPredicates(endpointsChanged)).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			d := o.(*appsv1.Deployment)
			return r.gatewaysWhere(ctx, indexSelector, pairs(d.Spec.Template.Labels), func(gw *istionet.Gateway) bool {
				return containsLabels(d.Spec.Template.Labels, gw.Spec.GetSelector())
			})
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Old and new objects are both mapped on update, so unbinding a VirtualService reaches
		// the Gateway it left.
		Watches(&istionet.VirtualService{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			vs := o.(*istionet.VirtualService)
			var out []reconcile.Request
			for _, g := range vs.Spec.GetGateways() {
				ns, name, found := strings.Cut(g, "/")
				if !found {
					ns, name = vs.Namespace, g
				}
				out = append(out, requestFor(ns, name, r.WatchNamespace)...)
			}
			return out
		})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return r.gatewaysWhere(ctx, indexManaged, []string{"true"}, func(*istionet.Gateway) bool { return true })
		}), builder.WithPredicates(nodeTargetChanged)).
		Complete(r)
}

func (r *IstioGatewayReconciler) inScope(o client.Object) bool {
	return r.WatchNamespace == "" || o.GetNamespace() == r.WatchNamespace
}

func (r *IstioGatewayReconciler) gatewaysWhere(ctx context.Context, field string, values []string, match func(*istionet.Gateway) bool) []reconcile.Request {
	return gatewaysWhere(ctx, r.Client, &istionet.GatewayList{}, r.WatchNamespace, field, values, match)
}

// nodeTargetChanged passes node events that can change the registered targets.
var nodeTargetChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
		return eligible(o) != eligible(n) || o.Spec.ProviderID != n.Spec.ProviderID
	},
}
