package controllers

import (
	"strings"

	"istio.io/api/annotation"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// trustedProxies returns how many proxies in front of it the gateway's Envoy trusts: the
// smallest gatewayTopology.numTrustedProxies that the proxy.istio.io/config annotation of the pod
// templates of the gateway workloads (Deployments and DaemonSets of Istio gateway pods the
// Service selects) sets, 0 when one sets none; and names those workloads. A mesh-wide
// meshConfig.defaultConfig.gatewayTopology is in istiod's configuration, which the operator does
// not read: only the pods' annotation counts.
func trustedProxies(templates []podTemplate, namespace string) (uint32, string) {
	var trusted uint32
	var names []string
	for _, t := range templates {
		if !IsGatewayPodTemplate(t.Template) {
			continue
		}
		n := NumTrustedProxies(t.Template.Annotations)
		if len(names) == 0 || n < trusted {
			trusted = n
		}
		names = append(names, t.Kind+" "+namespace+"/"+t.Name)
	}
	return trusted, strings.Join(names, ", ")
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
