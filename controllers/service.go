package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// originalService is what the operator records on a gateway Service before its first change:
// every field a switch to NodePort changes, so that teardown puts back exactly what was there.
type originalService struct {
	Type                          corev1.ServiceType `json:"type"`
	LoadBalancerClass             *string            `json:"loadBalancerClass,omitempty"`
	LoadBalancerSourceRanges      []string           `json:"loadBalancerSourceRanges,omitempty"`
	AllocateLoadBalancerNodePorts *bool              `json:"allocateLoadBalancerNodePorts,omitempty"`
	LoadBalancerIP                string             `json:"loadBalancerIP,omitempty"`
	HealthCheckNodePort           int32              `json:"healthCheckNodePort,omitempty"`
}

func recordOf(svc *corev1.Service) originalService {
	return originalService{
		Type: svc.Spec.Type, LoadBalancerClass: svc.Spec.LoadBalancerClass,
		LoadBalancerSourceRanges:      slices.Clone(svc.Spec.LoadBalancerSourceRanges),
		AllocateLoadBalancerNodePorts: svc.Spec.AllocateLoadBalancerNodePorts,
		LoadBalancerIP:                svc.Spec.LoadBalancerIP, //nolint:staticcheck // recorded to be restored
		HealthCheckNodePort:           svc.Spec.HealthCheckNodePort,
	}
}

// recorded returns what the operator recorded on the Service, ok false when it never changed it.
func recorded(svc *corev1.Service) (originalService, bool) {
	raw, ok := svc.Annotations[annotations.OriginalServiceType]
	if !ok {
		return originalService{}, false
	}
	var orig originalService
	if err := json.Unmarshal([]byte(raw), &orig); err != nil || orig.Type == "" {
		orig = originalService{Type: corev1.ServiceType(raw)} // a hand-written plain type
	}
	return orig, true
}

// changeService makes one change of the plan to the gateway Service, recording the Service as
// it was before the operator's first change (in the same patch, so the record and the change
// land together). It returns the message of an Event, "" when there was nothing to do.
func changeService(ctx context.Context, c client.Client, key types.NamespacedName, change build.ServiceChange) (string, error) {
	svc := &corev1.Service{}
	if err := c.Get(ctx, key, svc); err != nil {
		return "", fmt.Errorf("reading service %s: %w", key, err)
	}
	before := svc.DeepCopy()
	if _, ok := recorded(svc); !ok {
		orig, _ := json.Marshal(recordOf(svc))
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[annotations.OriginalServiceType] = string(orig)
	}
	var msg string
	switch change {
	case build.ServiceAllocateNodePorts:
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts) {
			return "", nil
		}
		yes := true
		svc.Spec.AllocateLoadBalancerNodePorts = &yes
		msg = fmt.Sprintf("Service %s: allocateLoadBalancerNodePorts set to true, so the ALB can be built on nodePorts while its load balancer keeps serving", key)
	case build.ServiceToNodePort:
		if svc.Spec.Type == corev1.ServiceTypeNodePort {
			return "", nil
		}
		msg = fmt.Sprintf("Service %s switched from %s to NodePort (nodePorts kept)", key, svc.Spec.Type)
		svc.Spec.Type = corev1.ServiceTypeNodePort
		// Fields the API server accepts only on LoadBalancer Services; recorded above.
		svc.Spec.AllocateLoadBalancerNodePorts = nil
		svc.Spec.LoadBalancerClass = nil
		svc.Spec.LoadBalancerSourceRanges = nil
		svc.Spec.LoadBalancerIP = "" //nolint:staticcheck // cleared for NodePort, recorded above
		svc.Spec.HealthCheckNodePort = 0
	default:
		return "", fmt.Errorf("unknown service change %q", change)
	}
	if err := c.Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("changing service %s (%s): %w", key, change, err)
	}
	return msg, nil
}

// restoreService puts back everything recorded by changeService. It returns the message of an
// Event, "" when the Service was not changed by the operator (it is left alone).
func restoreService(ctx context.Context, c client.Client, svc *corev1.Service) (string, error) {
	orig, ok := recorded(svc)
	if !ok {
		return "", nil
	}
	before := svc.DeepCopy()
	delete(svc.Annotations, annotations.OriginalServiceType)
	svc.Spec.Type = orig.Type
	switch orig.Type {
	case corev1.ServiceTypeLoadBalancer:
		svc.Spec.LoadBalancerClass = orig.LoadBalancerClass
		svc.Spec.LoadBalancerSourceRanges = orig.LoadBalancerSourceRanges
		svc.Spec.AllocateLoadBalancerNodePorts = orig.AllocateLoadBalancerNodePorts
		svc.Spec.LoadBalancerIP = orig.LoadBalancerIP //nolint:staticcheck // restored as recorded
		if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
			svc.Spec.HealthCheckNodePort = orig.HealthCheckNodePort
		}
		if a := orig.AllocateLoadBalancerNodePorts; a != nil && !*a {
			// The nodePorts were allocated for the ALB only.
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
	case corev1.ServiceTypeClusterIP:
		svc.Spec.ExternalTrafficPolicy = ""
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	err := c.Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsInvalid(err) && svc.Spec.HealthCheckNodePort != 0 {
		// The recorded health-check nodePort was taken meanwhile: let the API server pick one.
		svc.Spec.HealthCheckNodePort = 0
		err = c.Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	if err != nil {
		return "", fmt.Errorf("restoring service %s/%s to %s: %w", svc.Namespace, svc.Name, orig.Type, err)
	}
	return fmt.Sprintf("Service %s/%s restored to type %s with the fields it had", svc.Namespace, svc.Name, orig.Type), nil
}

// askIstiod sets networking.istio.io/service-type: NodePort on a Gateway API Gateway, so that
// istiod makes the Service it owns NodePort; the operator records that it added the annotation.
func askIstiod(ctx context.Context, c client.Client, gw client.Object) (string, error) {
	if gw.GetAnnotations()[frontend.IstioServiceTypeAnnotation] == string(corev1.ServiceTypeNodePort) {
		return "", nil
	}
	before := gw.DeepCopyObject().(client.Object)
	ann := gw.GetAnnotations()
	ann[frontend.IstioServiceTypeAnnotation] = string(corev1.ServiceTypeNodePort)
	ann[addedServiceType] = "true"
	gw.SetAnnotations(ann)
	if err := c.Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("annotating %s: %w", frontend.IstioServiceTypeAnnotation, err)
	}
	return fmt.Sprintf("set %s=NodePort on the Gateway: istiod switches its Service to NodePort (nodePorts kept)", frontend.IstioServiceTypeAnnotation), nil
}

// releaseIstiod removes the service-type annotation if the operator added it; istiod then
// restores its Service's type.
func releaseIstiod(ctx context.Context, c client.Client, gw client.Object) (string, error) {
	if gw.GetAnnotations()[addedServiceType] != "true" {
		return "", nil
	}
	before := gw.DeepCopyObject().(client.Object)
	ann := gw.GetAnnotations()
	delete(ann, frontend.IstioServiceTypeAnnotation)
	delete(ann, addedServiceType)
	gw.SetAnnotations(ann)
	if err := c.Patch(ctx, gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("removing %s: %w", frontend.IstioServiceTypeAnnotation, err)
	}
	return fmt.Sprintf("removed %s from the Gateway; istiod restores its Service's type", frontend.IstioServiceTypeAnnotation), nil
}

// serviceUsers names the enabled Gateways of either kind, other than except, whose ALB is built
// on the Service: Istio Gateways whose selector picks its pods, Gateway API Gateways whose
// spec.addresses name it. A kind whose CRD is not installed has no users.
func serviceUsers(ctx context.Context, c client.Client, svc *corev1.Service, except types.UID) ([]string, error) {
	var out []string
	var istio istionet.GatewayList
	switch err := c.List(ctx, &istio); {
	case meta.IsNoMatchError(err):
	case err != nil:
		return nil, fmt.Errorf("listing istio gateways: %w", err)
	}
	for _, gw := range istio.Items {
		if gw.UID != except && gw.DeletionTimestamp.IsZero() && annotations.IsEnabled(gw.Annotations) && selects(svc, gw.Spec.GetSelector()) {
			out = append(out, frontend.KindIstio+"/"+gw.Namespace+"/"+gw.Name)
		}
	}
	var gws gwapiv1.GatewayList
	switch err := c.List(ctx, &gws); {
	case meta.IsNoMatchError(err):
	case err != nil:
		return nil, fmt.Errorf("listing gateway-api gateways: %w", err)
	}
	for i := range gws.Items {
		gw := &gws.Items[i]
		if gw.UID == except || !gw.DeletionTimestamp.IsZero() || !annotations.IsEnabled(gw.Annotations) {
			continue
		}
		if name, ns, ok := manualService(gw); ok && ns == svc.Namespace && name == svc.Name {
			out = append(out, frontend.KindGatewayAPI+"/"+gw.Namespace+"/"+gw.Name)
		}
	}
	return out, nil
}

// servicePorts copies the Service's ports into the frontend's form.
func servicePorts(svc *corev1.Service) []frontend.ServicePort {
	var out []frontend.ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		out = append(out, frontend.ServicePort{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort, NodePort: p.NodePort})
	}
	return out
}

// describeService fills the frontend's facts of the Service.
func describeService(fe *frontend.Frontend, svc *corev1.Service, owner string) {
	fe.Service = types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	fe.ServicePorts = servicePorts(svc)
	fe.ServiceType = string(svc.Spec.Type)
	fe.AllocateLoadBalancerNodePorts = svc.Spec.AllocateLoadBalancerNodePorts
	fe.ServiceOwner = owner
}
