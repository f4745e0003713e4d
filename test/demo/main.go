// Command demo runs the article end to end on this machine: it starts kube-apiserver and etcd,
// seeds the AWS endpoint like an EKS account, runs the operator, applies the article's objects
// and prints what the operator built. `make demo` starts the AWS endpoint first.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
	"github.com/istio-alb-operator/istio-alb-operator/localstack/seed"
	"github.com/istio-alb-operator/istio-alb-operator/test/fixtures"
	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("DEMO_VERBOSE") == "1" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}
	if missing := rig.Missing(); missing != "" {
		return fmt.Errorf("%s", missing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	step("starting kube-apiserver and etcd")
	cp, err := rig.StartControlPlane()
	if err != nil {
		return err
	}
	defer cp.Stop()
	k8s, err := client.New(cp.Config, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}

	step("seeding the AWS endpoint %s like an EKS account", rig.Endpoint())
	cfg, err := rig.AWSConfig(ctx)
	if err != nil {
		return err
	}
	if err := seed.Reset(ctx, rig.Endpoint()); err != nil {
		return err
	}
	env, err := seed.Seed(ctx, cfg, seed.Options{ClusterName: "demo"})
	if err != nil {
		return err
	}
	fmt.Printf("    VPC %s, public subnets %v, node security group %s, instances %v\n", env.VPCID, env.PublicSubnets, env.NodeSecurityGroupID, env.Instances)

	step("starting the operator")
	calls := &clients.Recorder{}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	mgr, err := controllers.NewManager(mctx, cp.Config, controllers.Options{
		ClusterName: "demo", AWSRegion: cfg.Region, AWSEndpointURL: rig.Endpoint(),
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", SyncPeriod: 10 * time.Minute,
		AWSCalls: calls,
	})
	if err != nil {
		return err
	}
	go func() { _ = mgr.Start(mctx) }()

	step("applying the article's objects")
	selector := map[string]string{"istio": "ingressgateway"}
	objs := []client.Object{
		fixtures.Namespace("istio-system"), fixtures.Namespace("test-ns"),
		fixtures.IngressGatewayService("istio-system", selector),
		fixtures.IngressGatewayDeployment("istio-system", selector, "/healthz/ready"),
		fixtures.TestService("test-ns"),
		fixtures.VirtualService("test-ns", "test-gateway", "istio-test-alb.example.com"),
	}
	for i, inst := range env.Instances {
		objs = append(objs, fixtures.Node(fmt.Sprintf("ip-10-0-%d-10.ec2.internal", 100+i), inst.ProviderID()))
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
		if n, ok := o.(*corev1.Node); ok {
			fixtures.SetReady(n, true)
			if err := k8s.Status().Update(ctx, n); err != nil {
				return err
			}
		}
		fmt.Printf("    %T %s/%s\n", o, o.GetNamespace(), o.GetName())
	}
	start := time.Now()
	gw := fixtures.Gateway("test-ns", "test-gateway", selector, []string{"istio-test-alb.example.com"}, map[string]string{"istio-alb.io/enabled": "true"})
	if err := k8s.Create(ctx, gw); err != nil {
		return err
	}
	fmt.Println("    Gateway test-ns/test-gateway with istio-alb.io/enabled: \"true\"")

	step("waiting for the ALB")
	var dns string
	if err := rig.Eventually(60*time.Second, 100*time.Millisecond, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), gw); err != nil {
			return err
		}
		if dns = gw.Annotations["istio-alb.io/load-balancer-dns"]; dns == "" {
			return fmt.Errorf("the operator has not published the ALB yet")
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("    istio-alb.io/load-balancer-dns: %s (after %s)\n", dns, time.Since(start).Round(time.Millisecond))

	step("what the operator built")
	var svc corev1.Service
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "istio-ingressgateway"}, &svc); err != nil {
		return err
	}
	fmt.Printf("    Service istio-system/istio-ingressgateway: type %s\n", svc.Spec.Type)
	for _, p := range svc.Spec.Ports {
		fmt.Printf("      %-12s port %-5d nodePort %d\n", p.Name, p.Port, p.NodePort)
	}
	elb := elbv2.NewFromConfig(cfg)
	lbs, err := elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return err
	}
	for _, lb := range lbs.LoadBalancers {
		var subnets []string
		for _, az := range lb.AvailabilityZones {
			subnets = append(subnets, aws.ToString(az.SubnetId)+"@"+aws.ToString(az.ZoneName))
		}
		fmt.Printf("    ALB %s\n      scheme %s, security groups %v, subnets %v\n", aws.ToString(lb.LoadBalancerName), lb.Scheme, lb.SecurityGroups, subnets)
		ls, err := elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		if err != nil {
			return err
		}
		for _, l := range ls.Listeners {
			a := l.DefaultActions[0]
			target := aws.ToString(a.TargetGroupArn)
			if r := a.RedirectConfig; r != nil {
				target = fmt.Sprintf("%s://%s:%s/%s?%s (%s)", aws.ToString(r.Protocol), aws.ToString(r.Host), aws.ToString(r.Port),
					strings.TrimPrefix(aws.ToString(r.Path), "/"), aws.ToString(r.Query), r.StatusCode)
			}
			fmt.Printf("      listener %s:%d → %s %s\n", l.Protocol, aws.ToInt32(l.Port), a.Type, target)
			if l.Protocol == "HTTPS" {
				certs, err := elb.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
				if err != nil {
					return err
				}
				for _, c := range certs.Certificates {
					fmt.Printf("        certificate %s (default %v), policy %s\n", aws.ToString(c.CertificateArn), aws.ToBool(c.IsDefault), aws.ToString(l.SslPolicy))
				}
			}
		}
	}
	tgs, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return err
	}
	for _, tg := range tgs.TargetGroups {
		fmt.Printf("    target group %s: %s:%d (%s)\n      health check %s %s on port %s, matcher %s\n", aws.ToString(tg.TargetGroupName),
			tg.Protocol, aws.ToInt32(tg.Port), tg.TargetType, tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPath),
			aws.ToString(tg.HealthCheckPort), aws.ToString(tg.Matcher.HttpCode))
		th, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return err
		}
		for _, d := range th.TargetHealthDescriptions {
			fmt.Printf("      target %s:%d %s\n", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), d.TargetHealth.State)
		}
	}
	recs, err := route53.NewFromConfig(cfg).ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(env.HostedZoneID)})
	if err != nil {
		return err
	}
	fmt.Printf("    Route53 zone %s\n", env.HostedZoneID)
	for _, r := range recs.ResourceRecordSets {
		switch {
		case r.AliasTarget != nil:
			fmt.Printf("      %s %s alias → %s (zone %s)\n", aws.ToString(r.Name), r.Type, aws.ToString(r.AliasTarget.DNSName), aws.ToString(r.AliasTarget.HostedZoneId))
		case r.Type == "TXT":
			fmt.Printf("      %s TXT %s\n", aws.ToString(r.Name), aws.ToString(r.ResourceRecords[0].Value))
		}
	}
	fmt.Printf("    AWS calls made by the operator: %s\n", strings.Join(clients.Format(calls.Snapshot()), " "))
	return nil
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }
