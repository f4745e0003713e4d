package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"istio.io/api/annotation"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// trustedProxies returns how many proxies in front of it the gateway's Envoy trusts: the
// smallest gatewayTopology.numTrustedProxies that the proxy.istio.io/config annotation of the pod
// templates of the gateway workloads (Deployments and DaemonSets of Istio gateway pods the
// Service selects) sets, 0 when one sets none; and names those workloads. A mesh-wide
// meshConfig.defaultConfig.gatewayTopology is in istiod's configuration, which the operator does
// not read: only the pods' annotation counts.
func trustedProxies(ctx context.Context, c client.Client, svc *corev1.Service) (uint32, string, error) {
	if len(svc.Spec.Selector) == 0 {
		return 0, "", nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var templates []corev1.PodTemplateSpec
	var names []string
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(svc.Namespace)); err != nil {
		return 0, "", fmt.Errorf("listing deployments: %w", err)
	}
	for _, d := range deps.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) && IsGatewayPodTemplate(d.Spec.Template) {
			templates, names = append(templates, d.Spec.Template), append(names, "Deployment "+d.Namespace+"/"+d.Name)
		}
	}
	var dss appsv1.DaemonSetList
	if err := c.List(ctx, &dss, client.InNamespace(svc.Namespace)); err != nil {
		return 0, "", fmt.Errorf("listing daemonsets: %w", err)
	}
	for _, d := range dss.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) && IsGatewayPodTemplate(d.Spec.Template) {
			templates, names = append(templates, d.Spec.Template), append(names, "DaemonSet "+d.Namespace+"/"+d.Name)
		}
	}
	if len(templates) == 0 {
		return 0, "", nil
	}
	trusted := NumTrustedProxies(templates[0].Annotations)
	for _, t := range templates[1:] {
		trusted = min(trusted, NumTrustedProxies(t.Annotations))
	}
	slices.Sort(names)
	return trusted, strings.Join(names, ", "), nil
}

// NumTrustedProxies reads gatewayTopology.numTrustedProxies from a pod's proxy.istio.io/config
// annotation (a ProxyConfig in YAML or JSON, as Istio reads it); 0 when it is absent or not a
// ProxyConfig (Istio would not start such a proxy with it either).
func NumTrustedProxies(podAnnotations map[string]string) uint32 {
	v, ok := podAnnotations[annotation.ProxyConfig.Name]
	if !ok {
		return 0
	}
	js, err := yaml.ToJSON([]byte(v))
	if err != nil {
		return 0
	}
	var pc meshv1alpha1.ProxyConfig
	if err := pc.UnmarshalJSON(js); err != nil {
		return 0
	}
	return pc.GetGatewayTopology().GetNumTrustedProxies()
}
