package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// gatherPods fills what ip targets need of the gateway pods: the ready endpoints of the
// Service's EndpointSlices and the named container ports of the pods' templates (a named
// targetPort or probe port resolves through them).
func gatherPods(ctx context.Context, c client.Client, fe *frontend.Frontend, svc *corev1.Service, templates []podTemplate) error {
	var list discoveryv1.EndpointSliceList
	if err := c.List(ctx, &list, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return fmt.Errorf("listing endpointslices of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	fe.PodIPs = ReadyEndpoints(list.Items)
	fe.ContainerPorts = containerPorts(templates)
	return nil
}

// ReadyEndpoints returns the IPv4 addresses of the ready endpoints of a Service's EndpointSlices,
// sorted and distinct. An endpoint whose ready condition is false (a pod failing its readiness
// probe) or that is terminating is left out, so its target is deregistered and the ALB drains it
// for the target group's deregistration delay. A missing ready condition means ready, as the
// EndpointSlice API says.
func ReadyEndpoints(list []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range list {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, e := range s.Endpoints {
			c := e.Conditions
			if len(e.Addresses) == 0 || (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) {
				continue
			}
			// The addresses of one endpoint are fungible; consumers use the first (as kube-proxy).
			out = append(out, e.Addresses[0])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// containerPorts returns the named container ports of the pod templates of the Deployments and
// DaemonSets whose pods the Service selects (istio-proxy's first; the first name wins).
func containerPorts(templates []podTemplate) map[string]int32 {
	out := map[string]int32{}
	for _, t := range templates {
		containers := slices.Clone(t.Template.Spec.Containers)
		sort.SliceStable(containers, func(i, j int) bool { return containers[i].Name == istioProxy && containers[j].Name != istioProxy })
		for _, ctr := range containers {
			for _, p := range ctr.Ports {
				if _, seen := out[p.Name]; p.Name != "" && !seen && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
					out[p.Name] = p.ContainerPort
				}
			}
		}
	}
	return out
}

// ipTargets reports whether a Gateway asks for ip targets: only those follow the pods.
func ipTargets(gw client.Object) bool {
	return gw.GetAnnotations()[annotations.TargetType] == annotations.TargetTypeIP
}

// sliceService returns the Service an EndpointSlice belongs to, nil when it is gone or the slice
// names none.
func sliceService(ctx context.Context, c client.Client, o client.Object) *corev1.Service {
	name := o.GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: name}, svc); err != nil {
		return nil
	}
	return svc
}

// endpointsChanged passes the EndpointSlice events that can change ip targets: creates, deletes,
// and updates that change the ready addresses or the Service the slice belongs to.
var endpointsChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*discoveryv1.EndpointSlice)
		n, ok2 := e.ObjectNew.(*discoveryv1.EndpointSlice)
		if !ok1 || !ok2 {
			return true
		}
		return o.Labels[discoveryv1.LabelServiceName] != n.Labels[discoveryv1.LabelServiceName] ||
			!slices.Equal(ReadyEndpoints([]discoveryv1.EndpointSlice{*o}), ReadyEndpoints([]discoveryv1.EndpointSlice{*n}))
	},
}

// gatewaysOfEndpointSlice maps an EndpointSlice to the managed Istio Gateways with ip targets
// whose selector picks the pods of the slice's Service.
func (r *IstioGatewayReconciler) gatewaysOfEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := sliceService(ctx, r.Client, o)
	if svc == nil {
		return nil
	}
	return r.gatewaysWhere(ctx, indexSelector, pairs(svc.Spec.Selector), func(gw *istionet.Gateway) bool {
		return ipTargets(gw) && selects(svc, gw.Spec.GetSelector())
	})
}

// gatewaysOfEndpointSlice maps an EndpointSlice to the managed Gateway API Gateways with ip
// targets built on the slice's Service: those whose spec.addresses name it, and the one istiod
// deployed it for.
func (r *GatewayAPIReconciler) gatewaysOfEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	out := r.gatewaysWhere(ctx, indexService, []string{o.GetNamespace() + "/" + name}, func(gw *gwapiv1.Gateway) bool { return ipTargets(gw) })
	svc := sliceService(ctx, r.Client, o)
	if svc == nil || svc.Labels[GatewayNameLabel] == "" {
		return out
	}
	var gw gwapiv1.Gateway
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: svc.Namespace, Name: svc.Labels[GatewayNameLabel]}, &gw); err == nil && managed(&gw) && ipTargets(&gw) {
		out = append(out, requestFor(gw.Namespace, gw.Name, r.WatchNamespace)...)
	}
	return out
}
