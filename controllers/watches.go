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

// Field indexes of the Gateway informers, so that an event of a watched object finds its
// Gateways without listing every Gateway of the cluster.
const (
	// indexManaged is "true" on Gateways the operator manages: enabled, or holding the finalizer.
	indexManaged = "istio-alb.io/managed"
	// indexSelector holds each "key=value" of an Istio Gateway's spec.selector.
	indexSelector = "istio-alb.io/selector"
	// indexService is "<namespace>/<name>" of the Service a Gateway API Gateway names in
	// spec.addresses (manual deployment).
	indexService = "istio-alb.io/service"
	// indexClass is a Gateway API Gateway's class.
	indexClass = "istio-alb.io/class"
)

func managed(o client.Object) bool {
	return annotations.IsEnabled(o.GetAnnotations()) || controllerutil.ContainsFinalizer(o, Finalizer)
}

func managedIndex(o client.Object) []string {
	if managed(o) {
		return []string{"true"}
	}
	return nil
}

// gatewaysWhere maps a watched object to the managed Gateways of one kind (list is that kind's
// list type) in the watched namespace whose index field has one of the values and that satisfy
// match.
func gatewaysWhere[T client.Object](ctx context.Context, c client.Client, list client.ObjectList, namespace, field string, values []string, match func(T) bool) []reconcile.Request {
	seen := map[types.NamespacedName]bool{}
	var out []reconcile.Request
	for _, v := range values {
		opts := []client.ListOption{client.MatchingFields{field: v}}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			if !meta.IsNoMatchError(err) {
				log.FromContext(ctx).Error(err, "listing gateways to map an event", "index", field)
			}
			return nil
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil
		}
		for _, item := range items {
			gw, ok := item.(T)
			if !ok {
				continue
			}
			key := types.NamespacedName{Namespace: gw.GetNamespace(), Name: gw.GetName()}
			if managed(gw) && match(gw) && !seen[key] {
				seen[key] = true
				out = append(out, reconcile.Request{NamespacedName: key})
			}
		}
	}
	return out
}

// requestFor is the request of one named Gateway, when the operator watches its namespace.
func requestFor(namespace, name, watched string) []reconcile.Request {
	if watched != "" && namespace != watched {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}}
}

// pairs returns "key=value" of each label.
func pairs(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// managedKeys returns the keys ("<kind>/<namespace>/<name>") of the Gateways of either kind that
// keep a stack in AWS — enabled and not being deleted — other than except. Gateways being torn
// down do not count: when several go at once, the last of them to finish deletes what they shared.
// A kind whose CRD is not installed has none.
func managedKeys(ctx context.Context, c client.Client, except string) ([]string, error) {
	var out []string
	err := eachGateway(ctx, c, "", func(kind string, gw client.Object) {
		key := kind + "/" + gw.GetNamespace() + "/" + gw.GetName()
		if key != except && gw.GetDeletionTimestamp().IsZero() && annotations.IsEnabled(gw.GetAnnotations()) && controllerutil.ContainsFinalizer(gw, Finalizer) {
			out = append(out, key)
		}
		// A group's shared ALB counts as a managed gateway of its own while it has a member.
		if g := groupKeyOf(gw); g != "" && g != except && gw.GetDeletionTimestamp().IsZero() && annotations.IsEnabled(gw.GetAnnotations()) && !slices.Contains(out, g) {
			out = append(out, g)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// eachGateway calls fn with every Gateway of either kind (in namespace; all when empty) from the
// cache, Istio's first. A kind whose CRD is not installed has none.
func eachGateway(ctx context.Context, c client.Client, namespace string, fn func(kind string, gw client.Object)) error {
	for _, kind := range []string{frontend.KindIstio, frontend.KindGatewayAPI} {
		var list client.ObjectList = &istionet.GatewayList{}
		if kind == frontend.KindGatewayAPI {
			list = &gwapiv1.GatewayList{}
		}
		var opts []client.ListOption
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		switch err := c.List(ctx, list, opts...); {
		case meta.IsNoMatchError(err):
			continue
		case err != nil:
			return fmt.Errorf("listing %s gateways: %w", kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			fn(kind, item.(client.Object))
		}
	}
	return nil
}
