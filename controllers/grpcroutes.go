package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// GRPCRoutes decide a Gateway API listener's protocol version: a listener whose attached routes
// are all GRPCRoutes gets a target group of protocol version GRPC. Their hostnames are the
// Gateway's hosts like HTTPRoutes'.

func grpcRoutes(routes []gwapiv1.GRPCRoute) []attachedRoute {
	out := make([]attachedRoute, 0, len(routes))
	for _, rt := range routes {
		out = append(out, attachedRoute{kind: frontend.KindGRPCRoute, namespace: rt.Namespace, name: rt.Name,
			deleting: !rt.DeletionTimestamp.IsZero(), parentRefs: rt.Spec.ParentRefs, hostnames: rt.Spec.Hostnames})
	}
	return out
}

// listGRPCRoutes lists the GRPCRoutes when the API server serves them.
func (r *GatewayAPIReconciler) listGRPCRoutes(ctx context.Context) ([]attachedRoute, error) {
	if !r.grpcRoutes {
		return nil, nil
	}
	var list gwapiv1.GRPCRouteList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing grpcroutes: %w", err)
	}
	return grpcRoutes(list.Items), nil
}

// servesGRPCRoutes reports whether the API server serves GRPCRoutes (the Gateway API's standard
// channel has them since v1.1; a cluster with older CRDs has only HTTPRoutes). It is asked once,
// when the controller is set up: GRPCRoute CRDs installed later are read after a restart.
func servesGRPCRoutes(mgr manager.Manager) (bool, error) {
	_, err := mgr.GetRESTMapper().RESTMapping(gwapiv1.SchemeGroupVersion.WithKind(frontend.KindGRPCRoute).GroupKind(), gwapiv1.SchemeGroupVersion.Version)
	switch {
	case meta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("discovering GRPCRoutes: %w", err)
	}
	return true, nil
}

// parentGateways maps a route's parentRefs to the Gateways they name.
func parentGateways(namespace string, refs []gwapiv1.ParentReference, watchNamespace string) []reconcile.Request {
	var out []reconcile.Request
	for _, ref := range refs {
		if (ref.Group != nil && *ref.Group != gwapiv1.GroupName) || (ref.Kind != nil && *ref.Kind != "Gateway") {
			continue
		}
		ns := namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		out = append(out, requestFor(ns, string(ref.Name), watchNamespace)...)
	}
	return out
}

// grpcRouteParents maps a GRPCRoute event to its Gateways.
func (r *GatewayAPIReconciler) grpcRouteParents(_ context.Context, o client.Object) []reconcile.Request {
	rt := o.(*gwapiv1.GRPCRoute)
	return parentGateways(rt.Namespace, rt.Spec.ParentRefs, r.WatchNamespace)
}
