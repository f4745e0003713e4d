package controllers

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// excludeFromLB is the well-known label that keeps a node out of external load balancers.
const excludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"

// InstanceFromProviderID parses "aws:///<zone>/<instance-id>"; ok is false for anything that is
// not an EC2 instance (e.g. Fargate).
func InstanceFromProviderID(providerID string) (zone, id string, ok bool) {
	rest, found := strings.CutPrefix(providerID, "aws://")
	if !found {
		return "", "", false
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(parts) != 2 || !strings.HasPrefix(parts[1], "i-") {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// TargetNodes returns the nodes that may receive traffic: Ready, schedulable, not excluded from
// load balancers, not being deleted and backed by an EC2 instance; sorted by instance id.
func TargetNodes(nodes []corev1.Node) []frontend.Node {
	var out []frontend.Node
	for i := range nodes {
		n := &nodes[i]
		if !eligible(n) {
			continue
		}
		zone, id, _ := InstanceFromProviderID(n.Spec.ProviderID)
		out = append(out, frontend.Node{Name: n.Name, InstanceID: id, Zone: zone})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out
}

func eligible(n *corev1.Node) bool {
	if n.Spec.Unschedulable || !n.DeletionTimestamp.IsZero() {
		return false
	}
	if _, excluded := n.Labels[excludeFromLB]; excluded {
		return false
	}
	if _, _, ok := InstanceFromProviderID(n.Spec.ProviderID); !ok {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
