package controllers

import (
	"context"
	"fmt"
	"slices"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
)

// gatewaysWhere maps a watched object to the Gateways of one kind (list is that kind's list
// type) that the operator manages — enabled, or still holding its finalizer — in the watched
// namespace and that satisfy match. A kind whose CRD is not installed has none; a failure to
// list is logged (the event is dropped; each Gateway's periodic drift check still comes).
func gatewaysWhere[T client.Object](ctx context.Context, c client.Client, list client.ObjectList, namespace string, match func(T) bool) []reconcile.Request {
	opts := []client.ListOption{}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		if !meta.IsNoMatchError(err) {
			log.FromContext(ctx).Error(err, "listing gateways to map a watched object to them")
		}
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

// managedKeys returns the keys ("<kind>/<namespace>/<name>") of the Gateways of either kind
// that hold the finalizer — those with a stack in AWS — other than except. A kind whose CRD is
// not installed has none.
func managedKeys(ctx context.Context, c client.Client, except string) ([]string, error) {
	var out []string
	for kind, list := range map[string]client.ObjectList{frontend.KindIstio: &istionet.GatewayList{}, frontend.KindGatewayAPI: &gwapiv1.GatewayList{}} {
		switch err := c.List(ctx, list); {
		case meta.IsNoMatchError(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("listing %s gateways: %w", kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			gw := item.(client.Object)
			key := kind + "/" + gw.GetNamespace() + "/" + gw.GetName()
			if key != except && controllerutil.ContainsFinalizer(gw, Finalizer) {
				out = append(out, key)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
