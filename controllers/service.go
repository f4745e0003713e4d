package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/controllers/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/controllers/frontend"
)

// originalService is what the operator records on a Service it switched to NodePort, to restore it.
type originalService struct {
	Type              corev1.ServiceType `json:"type"`
	LoadBalancerClass *string            `json:"loadBalancerClass,omitempty"`
}

// ensureNodePort switches the gateway Service to NodePort, keeping the nodePorts it has, and
// records what it was. It reports whether it changed the Service.
func ensureNodePort(ctx context.Context, c client.Client, svc *corev1.Service) (bool, error) {
	if svc.Spec.Type == corev1.ServiceTypeNodePort {
		return false, nil
	}
	before := svc.DeepCopy()
	if _, recorded := svc.Annotations[annotations.OriginalServiceType]; !recorded {
		orig, _ := json.Marshal(originalService{Type: svc.Spec.Type, LoadBalancerClass: svc.Spec.LoadBalancerClass})
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[annotations.OriginalServiceType] = string(orig)
	}
	svc.Spec.Type = corev1.ServiceTypeNodePort
	// Fields the API server accepts only on LoadBalancer Services.
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	svc.Spec.LoadBalancerClass = nil
	svc.Spec.LoadBalancerSourceRanges = nil
	if err := c.Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("switching service %s/%s to NodePort: %w", svc.Namespace, svc.Name, err)
	}
	return true, nil
}

// restoreService puts back the type recorded by ensureNodePort. It reports whether it changed
// the Service; a Service the operator did not switch is left alone.
func restoreService(ctx context.Context, c client.Client, svc *corev1.Service) (bool, error) {
	raw, ok := svc.Annotations[annotations.OriginalServiceType]
	if !ok {
		return false, nil
	}
	var orig originalService
	if err := json.Unmarshal([]byte(raw), &orig); err != nil || orig.Type == "" {
		orig = originalService{Type: corev1.ServiceType(raw)} // a hand-written plain type
	}
	before := svc.DeepCopy()
	delete(svc.Annotations, annotations.OriginalServiceType)
	switch orig.Type {
	case corev1.ServiceTypeLoadBalancer:
		svc.Spec.Type = orig.Type
		svc.Spec.LoadBalancerClass = orig.LoadBalancerClass
	case corev1.ServiceTypeClusterIP:
		svc.Spec.Type = orig.Type
		svc.Spec.ExternalTrafficPolicy = ""
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if err := c.Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("restoring service %s/%s to %s: %w", svc.Namespace, svc.Name, orig.Type, err)
	}
	return true, nil
}

// restore is restoreService with the message of an Event.
func restore(ctx context.Context, c client.Client, svc *corev1.Service) (string, error) {
	restored, err := restoreService(ctx, c, svc)
	if err != nil || !restored {
		return "", err
	}
	return fmt.Sprintf("Service %s/%s restored to type %s", svc.Namespace, svc.Name, svc.Spec.Type), nil
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
