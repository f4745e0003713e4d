// Package istiod imitates what istiod does for Gateway API Gateways in automated deployment, for
// the scenarios (istiod itself cannot be built here). It follows Istio's documented behaviour:
//   - it serves Gateways whose GatewayClass's controllerName is istio.io/gateway-controller, and
//     installs the default "istio" GatewayClass;
//   - for a Gateway without spec.addresses it deploys a Deployment and a Service named
//     "<gateway>-istio", labelled gateway.networking.k8s.io/gateway-name=<gateway> and owned by
//     the Gateway; the Service has the status port 15021 and one port per listener, and is of
//     type LoadBalancer unless the Gateway annotation networking.istio.io/service-type says
//     otherwise;
//   - it owns that Service: a hand edit of its type is reverted;
//   - it writes status.addresses (the Service's hostname) and its Accepted and Programmed
//     conditions, keeping other controllers' conditions.
package istiod

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	controllerName = "istio.io/gateway-controller"
	serviceType    = "networking.istio.io/service-type"
	gatewayName    = "gateway.networking.k8s.io/gateway-name"
)

// Istiod is the imitation's reconciler.
type Istiod struct {
	Client client.Client
}

// InstallGatewayClass creates the default "istio" GatewayClass, as istiod does at start.
func InstallGatewayClass(ctx context.Context, c client.Client) error {
	gc := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "istio"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: controllerName}}
	return client.IgnoreAlreadyExists(c.Create(ctx, gc))
}

// SetupWithManager registers the reconciler: Gateways, and the Deployments and Services it owns.
func (d *Istiod) SetupWithManager(mgr ctrl.Manager, name string) error {
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		For(&gwapiv1.Gateway{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.Deployment{}).
		Complete(d)
}

// Reconcile deploys the gateway and reports its status.
func (d *Istiod) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gw gwapiv1.Gateway
	if err := d.Client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var gc gwapiv1.GatewayClass
	if err := d.Client.Get(ctx, client.ObjectKey{Name: string(gw.Spec.GatewayClassName)}, &gc); err != nil || gc.Spec.ControllerName != controllerName {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !gw.DeletionTimestamp.IsZero() || len(gw.Spec.Addresses) > 0 {
		return ctrl.Result{}, nil // deleting, or manual deployment: nothing to deploy
	}
	name := gw.Name + "-istio"
	labels := map[string]string{gatewayName: gw.Name, "istio.io/gateway-name": gw.Name, "gateway.istio.io/managed": "istio.io-gateway-controller"}
	typ := corev1.ServiceTypeLoadBalancer
	if v := gw.Annotations[serviceType]; v != "" {
		typ = corev1.ServiceType(v)
	}

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, d.Client, dep, func() error {
		dep.Labels = labels
		dep.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{gatewayName: gw.Name}}
		dep.Spec.Template.Labels = labels
		dep.Spec.Template.Spec.Containers = []corev1.Container{{
			Name: "istio-proxy", Image: "istio/proxyv2",
			Ports: []corev1.ContainerPort{{Name: "status-port", ContainerPort: 15021}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz/ready", Port: intstr.FromInt32(15021), Scheme: corev1.URISchemeHTTP,
			}}},
		}}
		return controllerutil.SetControllerReference(&gw, dep, d.Client.Scheme())
	}); err != nil {
		return ctrl.Result{}, err
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, d.Client, svc, func() error {
		svc.Labels = labels
		svc.Spec.Selector = map[string]string{gatewayName: gw.Name}
		// Reverts a hand edit of the type; existing nodePorts are kept.
		if svc.Spec.Type == corev1.ServiceTypeClusterIP && typ != corev1.ServiceTypeClusterIP {
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
		svc.Spec.Type = typ
		want := []corev1.ServicePort{{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021), Protocol: corev1.ProtocolTCP}}
		for _, l := range gw.Spec.Listeners {
			want = append(want, corev1.ServicePort{
				Name: fmt.Sprintf("%s-%d", strings.ToLower(string(l.Protocol)), l.Port), Port: int32(l.Port),
				TargetPort: intstr.FromInt32(int32(l.Port)), Protocol: corev1.ProtocolTCP,
			})
		}
		for i := range want {
			for _, have := range svc.Spec.Ports {
				if have.Port == want[i].Port && typ != corev1.ServiceTypeClusterIP {
					want[i].NodePort = have.NodePort
				}
			}
		}
		svc.Spec.Ports = want
		return controllerutil.SetControllerReference(&gw, svc, d.Client.Scheme())
	}); err != nil {
		return ctrl.Result{}, err
	}

	before := gw.DeepCopy()
	gw.Status.Addresses = []gwapiv1.GatewayStatusAddress{{
		Type: ptr.To(gwapiv1.HostnameAddressType), Value: fmt.Sprintf("%s.%s.svc.cluster.local", name, gw.Namespace),
	}}
	for _, t := range []string{string(gwapiv1.GatewayConditionAccepted), string(gwapiv1.GatewayConditionProgrammed)} {
		meta.SetStatusCondition(&gw.Status.Conditions, metav1.Condition{
			Type: t, Status: metav1.ConditionTrue, Reason: t, Message: "Resource " + strings.ToLower(t), ObservedGeneration: gw.Generation,
		})
	}
	if err := d.Client.Status().Patch(ctx, &gw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}
