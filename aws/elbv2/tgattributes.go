package elbv2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// Matcher is the health check matcher of a target group of the protocol version: gRPC status
// codes for GRPC, HTTP codes otherwise (AWS refuses the other kind).
func Matcher(protocolVersion, codes string) *elbv2types.Matcher {
	if protocolVersion == model.ProtocolVersionGRPC {
		return &elbv2types.Matcher{GrpcCode: aws.String(codes)}
	}
	return &elbv2types.Matcher{HttpCode: aws.String(codes)}
}

// MatcherCodes are the codes of a matcher as AWS describes it, whichever kind it has.
func MatcherCodes(m *elbv2types.Matcher) string {
	switch {
	case m == nil:
		return ""
	case m.GrpcCode != nil:
		return aws.ToString(m.GrpcCode)
	}
	return aws.ToString(m.HttpCode)
}

// protocolVersion is the CreateTargetGroup parameter: none for HTTP1 (AWS's default), so a
// target group is created as before protocol versions were known.
func protocolVersion(v string) *string {
	if v == "" || v == model.ProtocolVersionHTTP1 {
		return nil
	}
	return aws.String(v)
}

// ensureAttributes makes the target group's attributes what the stack asks for: the attributes
// set (the user's and the operator's defaults) and AWS's default for every other attribute known,
// so a key removed from the annotation goes back to its default. One describe, and one write only
// when something differs; a group just created (fresh) has AWS's defaults, so only the attributes
// set are written, without a describe. An attribute the endpoint does not report is taken to be at
// its default.
func (s *TargetGroupSynthesizer) ensureAttributes(ctx context.Context, arn string, want model.TargetGroup, fresh bool) error {
	have := map[string]string{}
	if !fresh {
		out, err := s.API.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("DescribeTargetGroupAttributes %s: %w", want.Name, err)
		}
		for _, a := range out.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
	}
	var change []elbv2types.TargetGroupAttribute
	for _, kv := range attributeChanges(want.Attributes, want.DefaultAttributes, have) {
		change = append(change, elbv2types.TargetGroupAttribute{Key: aws.String(kv[0]), Value: aws.String(kv[1])})
	}
	if len(change) == 0 {
		return nil
	}
	if _, err := s.API.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: change}); err != nil {
		return fmt.Errorf("ModifyTargetGroupAttributes %s: %w", want.Name, err)
	}
	return nil
}
