package elbv2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// Owned is a resource found by its ownership tags (or remembered from the last apply).
type Owned = tags.Tagged

// NameFromARN returns the name inside a load balancer or target group ARN.
func NameFromARN(arn string) string {
	// arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
	// arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
	parts := strings.Split(arn, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return ""
}

// LoadBalancer is what the operator reports of the ALB.
type LoadBalancer struct {
	ARN                   string
	DNSName               string
	CanonicalHostedZoneID string
	State                 string
}

// candidatesOf returns the candidates whose ARN has the marker (":loadbalancer/",
// ":targetgroup/"), by ARN.
func candidatesOf(candidates []tags.Tagged, marker string) map[string]tags.Tagged {
	out := map[string]tags.Tagged{}
	for _, c := range candidates {
		if strings.Contains(c.ARN, marker) {
			out[c.ARN] = c
		}
	}
	return out
}

// tagsOf reads the tags of ELBv2 resources (at most 20 per call), by ARN.
func tagsOf(ctx context.Context, api API, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(arns, 20) {
		res, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: chunk})
		if err != nil {
			return nil, fmt.Errorf("DescribeTags %v: %w", chunk, err)
		}
		for _, d := range res.TagDescriptions {
			t := map[string]string{}
			for _, tag := range d.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(d.ResourceArn)] = t
		}
	}
	return out, nil
}

// addMissingTags puts back ownership and user tags missing from a resource whose tags are known.
func addMissingTags(ctx context.Context, api API, arn string, have, want map[string]string) error {
	missing := map[string]string{}
	for k, v := range want {
		if cur, ok := have[k]; !ok || cur != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 || have == nil {
		return nil
	}
	if _, err := api.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: elbTags(missing)}); err != nil {
		return fmt.Errorf("AddTags %s: %w", arn, err)
	}
	return nil
}

func elbTags(m map[string]string) []elbv2types.Tag {
	var out []elbv2types.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, elbv2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
