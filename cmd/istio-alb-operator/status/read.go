package status

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

// eventSource is the name the operator's Events carry (its reporting controller).
const eventSource = "istio-alb-operator"

// Read lists the managed gateways of both kinds (enabled, or still holding the operator's
// finalizer) in namespace (all when empty) with the operator's condition and Events, sorted by
// kind, namespace and name. It only reads. A kind whose CRDs are not installed is skipped and
// named in missing.
func Read(ctx context.Context, c client.Reader, namespace string) (gateways []Gateway, missing []string, err error) {
	opts := []client.ListOption{}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	uids := map[types.UID]int{}
	add := func(g Gateway, uid types.UID) {
		uids[uid] = len(gateways)
		gateways = append(gateways, g)
	}

	var istio istionet.GatewayList
	switch err := c.List(ctx, &istio, opts...); {
	case meta.IsNoMatchError(err):
		missing = append(missing, "networking.istio.io/v1 Gateway")
	case err != nil:
		return nil, nil, fmt.Errorf("listing Istio Gateways: %w", err)
	}
	for _, gw := range istio.Items {
		if managed(gw.Annotations, gw.Finalizers) {
			add(Gateway{Kind: frontend.KindIstio, Namespace: gw.Namespace, Name: gw.Name, Generation: gw.Generation,
				Annotations: gw.Annotations, Finalizer: controllerutil.ContainsFinalizer(gw, controllers.Finalizer),
				Deleting: !gw.DeletionTimestamp.IsZero()}, gw.UID)
		}
	}
	var gws gwapiv1.GatewayList
	switch err := c.List(ctx, &gws, opts...); {
	case meta.IsNoMatchError(err):
		missing = append(missing, "gateway.networking.k8s.io/v1 Gateway")
	case err != nil:
		return nil, nil, fmt.Errorf("listing Gateway API Gateways: %w", err)
	}
	for i := range gws.Items {
		gw := &gws.Items[i]
		if !managed(gw.Annotations, gw.Finalizers) {
			continue
		}
		g := Gateway{Kind: frontend.KindGatewayAPI, Namespace: gw.Namespace, Name: gw.Name, Generation: gw.Generation,
			Annotations: gw.Annotations, Finalizer: controllerutil.ContainsFinalizer(gw, controllers.Finalizer),
			Deleting: !gw.DeletionTimestamp.IsZero()}
		if cond := meta.FindStatusCondition(gw.Status.Conditions, controllers.ConditionLoadBalancerReady); cond != nil {
			g.Condition = cond.DeepCopy()
		}
		add(g, gw.UID)
	}
	if len(gateways) == 0 {
		return nil, missing, nil
	}

	// One list of the Events on Gateways (either kind), matched to them by UID.
	var events corev1.EventList
	if err := c.List(ctx, &events, append(opts, client.MatchingFields{"involvedObject.kind": "Gateway"})...); err != nil {
		return nil, nil, fmt.Errorf("listing Events: %w", err)
	}
	for _, e := range events.Items {
		i, ok := uids[e.InvolvedObject.UID]
		if !ok || !fromOperator(e) {
			continue
		}
		gateways[i].Events = append(gateways[i].Events, Event{Type: e.Type, Reason: e.Reason, Message: e.Message, Time: eventTime(e)})
	}
	for i := range gateways {
		sort.SliceStable(gateways[i].Events, func(a, b int) bool { return gateways[i].Events[a].Time.After(gateways[i].Events[b].Time) })
	}
	sort.SliceStable(gateways, func(a, b int) bool {
		x, y := gateways[a], gateways[b]
		if x.Kind != y.Kind {
			return x.Kind > y.Kind // istio first
		}
		if x.Namespace != y.Namespace {
			return x.Namespace < y.Namespace
		}
		return x.Name < y.Name
	})
	return gateways, missing, nil
}

// managed mirrors the operator: it acts on a Gateway with the enabled annotation (any value but
// "false"; a bad value is an error it reports) or its finalizer (a teardown to finish).
func managed(ann map[string]string, finalizers []string) bool {
	return operatorActsOn(ann) || slices.Contains(finalizers, controllers.Finalizer)
}

// fromOperator reports whether the operator wrote the Event (an Event of the events.k8s.io API
// carries its reporting controller; the older API its source component).
func fromOperator(e corev1.Event) bool {
	return e.ReportingController == eventSource || e.Source.Component == eventSource ||
		(e.ReportingController == "" && e.Source.Component == "")
}

// eventTime is the time `kubectl get events` sorts an Event by: the last time of its series,
// else its last timestamp, else its event time, else its creation.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
