// Package clients builds the AWS SDK clients the operator uses, pointed at AWS_ENDPOINT_URL when
// set (LocalStack or moto), and counts every call by service, operation and outcome.
package clients

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go/middleware"
)

// Clients are the SDK clients of every AWS area the operator touches.
type Clients struct {
	Config  aws.Config
	EC2     *ec2.Client
	ELBV2   *elbv2.Client
	Tagging *tagging.Client
	ACM     *acm.Client
	Route53 *route53.Client
	Calls   *Recorder
}

// Options select the region and endpoint.
type Options struct {
	Region string
	// EndpointURL overrides every service's endpoint; empty means AWS_ENDPOINT_URL or AWS itself.
	EndpointURL string
	// Calls counts every call; nil means a new Recorder (tests and the demo pass their own).
	Calls *Recorder
	// Observe, when set, is told of every call and its error (metrics).
	Observe func(Call, error)
}

// New loads the default credential chain and builds the clients.
func New(ctx context.Context, o Options) (*Clients, error) {
	opts := []func(*config.LoadOptions) error{}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set --aws-region or AWS_REGION")
	}
	if o.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(o.EndpointURL)
	}
	rec := o.Calls
	if rec == nil {
		rec = &Recorder{}
	}
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error { return rec.register(stack, o.Observe) })
	return &Clients{
		Config:  cfg,
		EC2:     ec2.NewFromConfig(cfg),
		ELBV2:   elbv2.NewFromConfig(cfg),
		Tagging: tagging.NewFromConfig(cfg),
		ACM:     acm.NewFromConfig(cfg),
		Route53: route53.NewFromConfig(cfg),
		Calls:   rec,
	}, nil
}

// Call identifies one AWS API operation.
type Call struct {
	Service   string
	Operation string
}

func (c Call) String() string { return c.Service + "." + c.Operation }

// Recorder counts calls by operation (every attempt the SDK makes counts as one call).
type Recorder struct {
	mu     sync.Mutex
	counts map[Call]int
}

func (r *Recorder) register(stack *middleware.Stack, observe func(Call, error)) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("istio-alb-call-recorder",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			c := Call{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
			r.mu.Lock()
			if r.counts == nil {
				r.counts = map[Call]int{}
			}
			r.counts[c]++
			r.mu.Unlock()
			if observe != nil {
				observe(c, err)
			}
			return out, md, err
		}), middleware.After)
}

// Snapshot returns the counts so far.
func (r *Recorder) Snapshot() map[Call]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[Call]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Since returns the calls made after the given snapshot, without zero entries.
func (r *Recorder) Since(before map[Call]int) map[Call]int {
	out := map[Call]int{}
	for k, v := range r.Snapshot() {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Format renders counts as "Service.Operation=N" sorted lines, for logs and notes.
func Format(counts map[Call]int) []string {
	var out []string
	for c, n := range counts {
		out = append(out, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(out)
	return out
}

// IsMutating reports whether an operation changes AWS state (anything but Describe/Get/List).
func IsMutating(op string) bool {
	for _, p := range []string{"Describe", "Get", "List"} {
		if len(op) >= len(p) && op[:len(p)] == p {
			return false
		}
	}
	return true
}

// iamPrefixes maps the SDK's service ids to IAM action prefixes.
var iamPrefixes = map[string]string{
	"EC2":                         "ec2",
	"Elastic Load Balancing v2":   "elasticloadbalancing",
	"Resource Groups Tagging API": "tag",
	"ACM":                         "acm",
	"Route 53":                    "route53",
}

// IAMAction is the IAM action that authorises the call, e.g. "ec2:DescribeInstances".
func (c Call) IAMAction() string {
	prefix, ok := iamPrefixes[c.Service]
	if !ok {
		prefix = strings.ToLower(strings.ReplaceAll(c.Service, " ", ""))
	}
	return prefix + ":" + c.Operation
}
