package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// gather reads, without changing anything, all the planner needs: the gateway's Kubernetes side
// through its resolver, then what AWS says of its network and certificates (cached reads, so a
// reconcile of an unchanged gateway makes no AWS call). The annotations are parsed here only to
// know what to read; the planner parses them again and reports their errors.
func (p *Pipeline) gather(ctx context.Context, gw client.Object, owner tags.Owner, r Resolver) (build.Input, error) {
	in := build.Input{Owner: owner, Annotations: gw.GetAnnotations(), Policy: p.Policy, Now: time.Now()}
	fe, err := r.Gather(ctx, gw)
	if err != nil {
		return in, err
	}
	var ns corev1.Namespace
	if err := p.Client.Get(ctx, client.ObjectKey{Name: gw.GetNamespace()}, &ns); err != nil {
		return in, fmt.Errorf("reading namespace %s: %w", gw.GetNamespace(), err)
	}
	fe.NamespaceLabels = ns.Labels
	in.Gateway = fe
	in.AWS.Region = p.Region
	if len(fe.Problems) > 0 || fe.Waiting != "" || fe.Service.Name == "" || !fe.GatewayPodsOnly() || !p.Policy.AdmitsNamespace(ns.Labels) {
		// Not resolved to a gateway Service (another class, no Service, an application's
		// Service) or not allowed by the cluster policy: nothing in AWS is relevant, so nothing
		// is read.
		return in, nil
	}
	in.AWS.Read = true
	cfg, _ := annotations.Parse(in.Annotations)
	// After a rejection the cached answers may be what the user has fixed since (a subnet
	// tagged, a certificate issued): read them again.
	fresh := p.wasRejected(owner.GatewayKey) && !isPeer(ctx)
	if len(fe.Nodes) > 0 {
		ids := make([]string, 0, len(fe.Nodes))
		for _, n := range fe.Nodes {
			ids = append(ids, n.InstanceID)
		}
		nn, err := p.Discoverer.NodeNetwork(ctx, ids)
		if err != nil {
			return in, err
		}
		in.AWS.VPCID, in.AWS.NodeSecurityGroupID, in.AWS.AccountID = nn.VPCID, nn.SecurityGroupID, nn.AccountID
		if in.AWS.Subnets, err = p.Discoverer.Subnets(ctx, nn.VPCID, cfg.Scheme, cfg.Subnets, fresh); err != nil {
			return in, err
		}
	} else if cfg.TargetType == annotations.TargetTypeIP && p.Discoverer.VPCID != "" {
		// ip targets without EC2 nodes (Fargate): the VPC is --vpc-id's, and there is no node
		// security group to open.
		in.AWS.VPCID = p.Discoverer.VPCID
		var err error
		if in.AWS.Subnets, err = p.Discoverer.Subnets(ctx, in.AWS.VPCID, cfg.Scheme, cfg.Subnets, fresh); err != nil {
			return in, err
		}
	}
	if err := p.TLS.gather(ctx, &in, cfg, fresh); err != nil {
		return in, err
	}
	if err := p.gatherWebACL(ctx, &in, cfg, fresh); err != nil {
		return in, err
	}
	return in, nil
}
