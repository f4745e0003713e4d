package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
)

// gatewaysWhere maps a watched object to the Gateways of one kind (list is that kind's list
// type) that the operator manages — enabled, or still holding its finalizer — in the watched
// namespace and that satisfy match.
func gatewaysWhere[T client.Object](ctx context.Context, c client.Client, list client.ObjectList, namespace string, match func(T) bool) []reconcile.Request {
	opts := []client.ListOption{}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, item := range items {
		gw, ok := item.(T)
		if !ok {
			continue
		}
		managed := annotations.IsEnabled(gw.GetAnnotations()) || controllerutil.ContainsFinalizer(gw, Finalizer)
		if managed && match(gw) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.GetNamespace(), Name: gw.GetName()}})
		}
	}
	return out
}
