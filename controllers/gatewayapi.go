package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// Istio's conventions for Gateway API Gateways (automated deployment).
const (
	// IstioGatewayController is the controllerName of Istio's GatewayClasses.
	IstioGatewayController = "istio.io/gateway-controller"
	// GatewayNameLabel is the label istiod puts on the Service and pods of a Gateway.
	GatewayNameLabel = "gateway.networking.k8s.io/gateway-name"
	// ConditionLoadBalancerReady is the operator's own condition in a Gateway's status.
	ConditionLoadBalancerReady = "istio-alb.io/LoadBalancerReady"
)

// addedServiceType marks a service-type annotation the operator added (and removes at teardown).
const addedServiceType = annotations.AddedServiceType

// GatewayAPIReconciler reconciles gateway.networking.k8s.io/v1 Gateways of Istio's classes.
type GatewayAPIReconciler struct {
	Client   client.Client
	Pipeline *Pipeline
	// WatchNamespace limits the Gateways served; empty means all.
	WatchNamespace string
	// MaxConcurrentReconciles is how many Gateways are reconciled at once.
	MaxConcurrentReconciles int
	// Drifted are the Gateways the drift pass found drifted.
	Drifted <-chan event.GenericEvent

	// grpcRoutes says the API server serves GRPCRoutes (checked at setup).
	grpcRoutes bool
}

var _ StatusWriter = (*GatewayAPIReconciler)(nil)

// Kind implements Resolver.
func (r *GatewayAPIReconciler) Kind() string { return frontend.KindGatewayAPI }

// Reconcile implements reconcile.Reconciler.
func (r *GatewayAPIReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gw gwapiv1.Gateway
	if err := r.Client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return r.Pipeline.Reconcile(ctx, &gw, r)
}

// Gather implements Resolver: the class must be Istio's; listeners become servers; the Service
// is istiod's (automated deployment) or the one spec.addresses names (manual deployment).
func (r *GatewayAPIReconciler) Gather(ctx context.Context, obj client.Object) (*frontend.Frontend, error) {
	gw := obj.(*gwapiv1.Gateway)
	fe := &frontend.Frontend{Kind: frontend.KindGatewayAPI, Namespace: gw.Namespace, Name: gw.Name}
	var err error
	var kinds map[gwapiv1.SectionName][]string
	if fe.Routes, kinds, err = r.routeHosts(ctx, gw); err != nil {
		return nil, err
	}
	for _, l := range gw.Spec.Listeners {
		s := server(l)
		s.RouteKinds = kinds[l.Name]
		fe.Servers = append(fe.Servers, s)
	}
	if err := r.markRedirects(ctx, gw, fe); err != nil {
		return nil, err
	}
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	fe.Nodes = TargetNodes(nodes.Items)
	if prob, err := r.checkClass(ctx, gw); err != nil {
		return nil, err
	} else if prob != nil {
		fe.Problems = append(fe.Problems, *prob)
		return fe, nil
	}
	svc, manual, err := r.service(ctx, gw)
	if err != nil {
		return nil, err
	}
	switch {
	case svc == nil && manual != "":
		msg := fmt.Sprintf("spec.addresses names Service %s, which does not exist", manual)
		if r.WatchNamespace != "" && !strings.HasPrefix(manual, r.WatchNamespace+"/") {
			msg = fmt.Sprintf("spec.addresses names Service %s, outside namespace %s, the only one the operator watches (--watch-namespace)", manual, r.WatchNamespace)
		}
		fe.Problems = append(fe.Problems, frontend.Problem{Reason: build.ReasonServiceNotFound, Message: msg})
		return fe, nil
	case svc == nil:
		fe.Waiting = fmt.Sprintf("waiting for istiod to deploy Service %s/%s-istio", gw.Namespace, gw.Name)
		return fe, nil
	case manual != "":
		describeService(fe, svc, frontend.ServiceOwnerOperator)
	default:
		describeService(fe, svc, frontend.ServiceOwnerIstiod)
		fe.RequestedServiceType = gw.Annotations[frontend.IstioServiceTypeAnnotation]
	}
	if fe.Probe, err = probeOf(ctx, r.Client, svc.Namespace, svc.Spec.Selector); err != nil {
		return nil, err
	}
	if err := gatherWorkloads(ctx, r.Client, fe, svc); err != nil {
		return nil, err
	}
	return fe, nil
}

// Service implements Resolver: the Service spec.addresses names, or istiod's.
func (r *GatewayAPIReconciler) Service(ctx context.Context, obj client.Object) (*corev1.Service, error) {
	svc, _, err := r.service(ctx, obj.(*gwapiv1.Gateway))
	return svc, err
}

func (r *GatewayAPIReconciler) checkClass(ctx context.Context, gw *gwapiv1.Gateway) (*frontend.Problem, error) {
	var gc gwapiv1.GatewayClass
	err := r.Client.Get(ctx, client.ObjectKey{Name: string(gw.Spec.GatewayClassName)}, &gc)
	switch {
	case apierrors.IsNotFound(err):
		return &frontend.Problem{Reason: build.ReasonInvalidGateway, Message: fmt.Sprintf("GatewayClass %s does not exist", gw.Spec.GatewayClassName)}, nil
	case err != nil:
		return nil, err
	case gc.Spec.ControllerName != IstioGatewayController:
		return &frontend.Problem{Reason: build.ReasonInvalidGateway, Message: fmt.Sprintf(
			"class %s is not an Istio class (its controller is %s, not %s): the operator puts ALBs only in front of Istio gateways",
			gc.Name, gc.Spec.ControllerName, IstioGatewayController)}, nil
	}
	return nil, nil
}

// server turns a listener into the frontend's server.
func server(l gwapiv1.Listener) frontend.Server {
	s := frontend.Server{Name: string(l.Name), Port: int32(l.Port), Protocol: string(l.Protocol), Hosts: []string{"*"}}
	if l.Hostname != nil && *l.Hostname != "" {
		s.Hosts = []string{string(*l.Hostname)}
	}
	if l.Protocol == gwapiv1.HTTPSProtocolType || l.Protocol == gwapiv1.TLSProtocolType {
		mode := gwapiv1.TLSModeTerminate
		if l.TLS != nil && l.TLS.Mode != nil {
			mode = *l.TLS.Mode
		}
		s.TLSMode = strings.ToUpper(string(mode))
		if l.Protocol == gwapiv1.HTTPSProtocolType && mode == gwapiv1.TLSModeTerminate {
			s.TLSMode = frontend.TLSSimple
		}
		s.CertificateRefs = l.TLS != nil && len(l.TLS.CertificateRefs) > 0
	}
	return s
}

// service returns the gateway's Service: the one spec.addresses names ("<name>.<namespace>.svc..."),
// else the one istiod deployed for it. manual is the named Service when there is one.
func (r *GatewayAPIReconciler) service(ctx context.Context, gw *gwapiv1.Gateway) (svc *corev1.Service, manual string, err error) {
	if name, ns, ok := manualService(gw); ok {
		if r.WatchNamespace != "" && ns != r.WatchNamespace {
			// Outside the watched namespace the cache has no Services (and the RBAC may allow
			// none): the Service is reported missing rather than read.
			return nil, ns + "/" + name, nil
		}
		svc = &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc)
		if apierrors.IsNotFound(err) {
			return nil, ns + "/" + name, nil
		}
		return svc, ns + "/" + name, err
	}
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(gw.Namespace), client.MatchingLabels{GatewayNameLabel: gw.Name}); err != nil {
		return nil, "", fmt.Errorf("listing services: %w", err)
	}
	for i := range list.Items {
		if list.Items[i].Name == gw.Name+"-istio" || len(list.Items) == 1 {
			return &list.Items[i], "", nil
		}
	}
	return nil, "", nil
}

// manualService reads a Service hostname from spec.addresses (manual deployment).
func manualService(gw *gwapiv1.Gateway) (name, namespace string, ok bool) {
	for _, a := range gw.Spec.Addresses {
		if a.Type == nil || *a.Type != gwapiv1.HostnameAddressType {
			continue
		}
		parts := strings.Split(a.Value, ".")
		if len(parts) >= 3 && parts[2] == "svc" {
			return parts[0], parts[1], true
		}
	}
	return "", "", false
}

// routeHosts returns the hosts of the routes (HTTPRoutes, GRPCRoutes) attached to the Gateway,
// and the kinds of the routes attached to each listener.
func (r *GatewayAPIReconciler) routeHosts(ctx context.Context, gw *gwapiv1.Gateway) ([]frontend.Route, map[gwapiv1.SectionName][]string, error) {
	var routes gwapiv1.HTTPRouteList
	if err := r.Client.List(ctx, &routes); err != nil {
		return nil, nil, fmt.Errorf("listing httproutes: %w", err)
	}
	grpc, err := r.listGRPCRoutes(ctx)
	if err != nil {
		return nil, nil, err
	}
	nsLabels := map[string]map[string]string{}
	if slices.ContainsFunc(gw.Spec.Listeners, func(l gwapiv1.Listener) bool {
		return l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.Selector != nil
	}) {
		var nss corev1.NamespaceList
		if err := r.Client.List(ctx, &nss); err != nil {
			return nil, nil, fmt.Errorf("listing namespaces: %w", err)
		}
		for _, ns := range nss.Items {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	hosts, kinds := attach(gw, append(httpRoutes(routes.Items), grpc...), nsLabels)
	return hosts, kinds, nil
}

// WriteStatus implements StatusWriter: the operator's own condition, beside istiod's.
func (r *GatewayAPIReconciler) WriteStatus(ctx context.Context, obj client.Object, st Status) error {
	gw := obj.(*gwapiv1.Gateway)
	cond := metav1.Condition{Type: ConditionLoadBalancerReady, Status: metav1.ConditionFalse, Reason: st.Reason,
		Message: st.Message, ObservedGeneration: gw.Generation}
	if st.Ready {
		cond.Status = metav1.ConditionTrue
	}
	before := gw.DeepCopy()
	if !meta.SetStatusCondition(&gw.Status.Conditions, cond) {
		return nil
	}
	err := r.Client.Status().Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		// istiod wrote its conditions meanwhile: read the Gateway again and set ours once more,
		// rather than leave the condition behind the ALB.
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
			return err
		}
		before = gw.DeepCopy()
		if !meta.SetStatusCondition(&gw.Status.Conditions, cond) {
			return nil
		}
		err = r.Client.Status().Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	return err
}

// SetupWithManager registers the controller and the watches that bring a Gateway back when its
// class, Service, its Service's EndpointSlices (ip targets), gateway Deployment, routes or the
// nodes change.
func (r *GatewayAPIReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &gwapiv1.Gateway{}, indexManaged, managedIndex); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &gwapiv1.Gateway{}, indexService, func(o client.Object) []string {
		if name, ns, ok := manualService(o.(*gwapiv1.Gateway)); ok {
			return []string{ns + "/" + name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &gwapiv1.Gateway{}, indexClass, func(o client.Object) []string {
		return []string{string(o.(*gwapiv1.Gateway).Spec.GatewayClassName)}
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr)
	var err error
	if r.grpcRoutes, err = servesGRPCRoutes(mgr); err != nil {
		return err
	}
	if r.grpcRoutes {
		b = b.Watches(&gwapiv1.GRPCRoute{}, handler.EnqueueRequestsFromMapFunc(r.grpcRouteParents))
	}
	if r.Pipeline.Policy.SelectsNamespaces() {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			if r.WatchNamespace != "" && o.GetName() != r.WatchNamespace {
				return nil
			}
			return gatewaysWhere(ctx, r.Client, &gwapiv1.GatewayList{}, o.GetName(), indexManaged, []string{"true"}, func(*gwapiv1.Gateway) bool { return true })
		}), builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	return b.
		Named(GatewayAPIControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		WatchesRawSource(source.Channel(r.Drifted, &handler.EnqueueRequestForObject{})).
		For(&gwapiv1.Gateway{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return r.WatchNamespace == "" || o.GetNamespace() == r.WatchNamespace
		}))).
		Watches(&gwapiv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.gatewaysWhere(ctx, indexClass, []string{o.GetName()}, func(*gwapiv1.Gateway) bool { return true })
		})).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			// istiod's Service carries its Gateway's name; a manual deployment names the Service.
			out := r.gatewaysWhere(ctx, indexService, []string{o.GetNamespace() + "/" + o.GetName()}, func(*gwapiv1.Gateway) bool { return true })
			if gw := o.GetLabels()[GatewayNameLabel]; gw != "" {
				out = append(out, requestFor(o.GetNamespace(), gw, r.WatchNamespace)...)
			}
			return out
		})).
		// ip targets follow the gateway pods' ready endpoints.
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfEndpointSlice), builder.WithPredicates(endpointsChanged)).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if gw := o.GetLabels()[GatewayNameLabel]; gw != "" {
				return requestFor(o.GetNamespace(), gw, r.WatchNamespace)
			}
			return nil
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gwapiv1.HTTPRoute{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			rt := o.(*gwapiv1.HTTPRoute)
			return parentGateways(rt.Namespace, rt.Spec.ParentRefs, r.WatchNamespace)
		})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return r.gatewaysWhere(ctx, indexManaged, []string{"true"}, func(*gwapiv1.Gateway) bool { return true })
		}), builder.WithPredicates(nodeTargetChanged)).
		Complete(r)
}

func (r *GatewayAPIReconciler) gatewaysWhere(ctx context.Context, field string, values []string, match func(*gwapiv1.Gateway) bool) []reconcile.Request {
	return gatewaysWhere(ctx, r.Client, &gwapiv1.GatewayList{}, r.WatchNamespace, field, values, match)
}
