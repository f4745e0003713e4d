package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// Marks of an Istio gateway pod template, as Istio's installers write them.
const (
	// istioProxy is the name of Envoy's container in gateway (and sidecar) pods.
	istioProxy = "istio-proxy"
	// injectTemplates is the annotation that asks Istio's injector for the "gateway" template
	// (the gateway Helm chart and istiod's automated deployments).
	injectTemplates = "inject.istio.io/templates"
	// managedGatewayLabel marks the Deployments istiod deploys for Gateway API Gateways.
	managedGatewayLabel = "gateway.istio.io/managed"
)

// IsGatewayPodTemplate reports whether pods of the template are Istio gateway pods: an
// istio-proxy container started as a router (istioctl and operator installs: "proxy router"),
// or injected with Istio's gateway template (the gateway Helm chart), or deployed by istiod for
// a Gateway API Gateway. A sidecar-injected application pod runs "proxy sidecar" and has none of
// these marks.
func IsGatewayPodTemplate(t corev1.PodTemplateSpec) bool {
	hasProxy := false
	for _, c := range t.Spec.Containers {
		if c.Name != istioProxy {
			continue
		}
		hasProxy = true
		if slices.Contains(c.Args, "router") {
			return true
		}
	}
	if !hasProxy {
		return false
	}
	if slices.Contains(strings.Split(t.Annotations[injectTemplates], ","), "gateway") {
		return true
	}
	return t.Labels[managedGatewayLabel] != ""
}

// podTemplate is the pod template of a Deployment or DaemonSet.
type podTemplate struct {
	Kind, Name string
	Template   corev1.PodTemplateSpec
}

// selectedTemplates returns the pod templates of the Deployments and DaemonSets of the Service's
// namespace whose pods the Service selects, sorted by kind and name (informer cache reads).
func selectedTemplates(ctx context.Context, c client.Client, svc *corev1.Service) ([]podTemplate, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []podTemplate
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(svc.Namespace)); err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	for _, d := range deps.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, podTemplate{"Deployment", d.Name, d.Spec.Template})
		}
	}
	var dss appsv1.DaemonSetList
	if err := c.List(ctx, &dss, client.InNamespace(svc.Namespace)); err != nil {
		return nil, fmt.Errorf("listing daemonsets: %w", err)
	}
	for _, d := range dss.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, podTemplate{"DaemonSet", d.Name, d.Spec.Template})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+"/"+out[i].Name < out[j].Kind+"/"+out[j].Name })
	return out, nil
}

// gatewayWorkloads marks each workload whose pods the Service selects as Istio gateway pods or
// not.
func gatewayWorkloads(templates []podTemplate) []frontend.Workload {
	out := make([]frontend.Workload, 0, len(templates))
	for _, t := range templates {
		out = append(out, frontend.Workload{Kind: t.Kind, Name: t.Name, Gateway: IsGatewayPodTemplate(t.Template)})
	}
	return out
}

// gatherWorkloads fills the frontend's facts of the gateway pods from the workloads the Service
// selects: which are Istio gateway pods, the proxies they trust, their named container ports and
// the ready endpoints (ip targets).
func gatherWorkloads(ctx context.Context, c client.Client, fe *frontend.Frontend, svc *corev1.Service) error {
	templates, err := selectedTemplates(ctx, c, svc)
	if err != nil {
		return err
	}
	fe.Workloads = gatewayWorkloads(templates)
	fe.TrustedProxies, fe.TrustedProxiesFrom = trustedProxies(templates, svc.Namespace)
	return gatherPods(ctx, c, fe, svc, templates)
}
