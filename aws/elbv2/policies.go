package elbv2

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
)

// DefaultSSLPolicy is the security policy of HTTPS listeners when neither the Gateway nor the
// operator's flags name one.
const DefaultSSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// SSLPolicies tells whether ELBv2 knows a security policy. Each name is asked about once per
// process: the set of policies changes only with AWS releases.
type SSLPolicies struct {
	API API

	mu    sync.Mutex
	known map[string]bool
}

// Exists reports whether ELBv2 offers the policy.
func (s *SSLPolicies) Exists(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	ok, asked := s.known[name]
	s.mu.Unlock()
	if asked {
		return ok, nil
	}
	out, err := s.API.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{Names: []string{name}})
	switch {
	case clients.ErrorCode(err) == clients.CodeSSLPolicyNotFound:
		ok = false
	case err != nil:
		return false, fmt.Errorf("DescribeSSLPolicies %s: %w", name, err)
	default:
		for _, p := range out.SslPolicies {
			ok = ok || aws.ToString(p.Name) == name
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = map[string]bool{}
	}
	s.known[name] = ok
	return ok, nil
}
