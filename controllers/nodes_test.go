package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, providerID string, ready corev1.ConditionStatus, mutate ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
	}
	for _, m := range mutate {
		m(&n)
	}
	return n
}

func TestTargetNodes(t *testing.T) {
	nodes := []corev1.Node{
		node("b", "aws:///us-east-1b/i-bbb", corev1.ConditionTrue),
		node("a", "aws:///us-east-1a/i-aaa", corev1.ConditionTrue),
		node("not-ready", "aws:///us-east-1a/i-ccc", corev1.ConditionFalse),
		node("unknown", "aws:///us-east-1a/i-ddd", corev1.ConditionUnknown),
		node("no-condition", "aws:///us-east-1a/i-eee", ""),
		node("cordoned", "aws:///us-east-1a/i-fff", corev1.ConditionTrue, func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("excluded", "aws:///us-east-1a/i-ggg", corev1.ConditionTrue, func(n *corev1.Node) {
			n.Labels = map[string]string{excludeFromLB: ""}
		}),
		node("fargate", "aws:///us-east-1a/fargate-ip-10-0-0-1", corev1.ConditionTrue),
		node("kind", "kind://docker/kind/kind-worker", corev1.ConditionTrue),
		node("deleting", "aws:///us-east-1a/i-hhh", corev1.ConditionTrue, func(n *corev1.Node) {
			now := metav1.Now()
			n.DeletionTimestamp = &now
		}),
	}
	got := TargetNodes(nodes)
	if len(got) != 2 || got[0].InstanceID != "i-aaa" || got[0].Zone != "us-east-1a" || got[1].InstanceID != "i-bbb" {
		t.Fatalf("only Ready, schedulable, included EC2 nodes sorted by instance id: got %+v", got)
	}
}
