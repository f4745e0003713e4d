// Package clients builds the AWS SDK clients the operator uses, pointed at AWS_ENDPOINT_URL when
// set (LocalStack or moto), and counts every call by service, operation and outcome.
package clients

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
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
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Clients are the SDK clients of every AWS area the operator touches.
type Clients struct {
	Config  aws.Config
	EC2     *ec2.Client
	ELBV2   *elbv2.Client
	Tagging *tagging.Client
	ACM     *acm.Client
	Route53 *route53.Client
	WAFV2   *wafv2.Client
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
	// RateLimits bound the calls per second to each service, by short name (ec2, elbv2,
	// route53, acm, tagging, wafv2); a service without a limit is not limited.
	RateLimits map[string]RateLimit
}

// RateLimit is a client-side bound on the calls to one AWS service: QPS calls a second on
// average, Burst at once. Every attempt counts, retries included.
type RateLimit struct {
	QPS   float64
	Burst int
}

// DefaultRateLimits keep the operator below AWS's account-wide API rates, which other tools of
// the account share: Route53 allows 5 requests a second per account (external-dns uses it too).
var DefaultRateLimits = map[string]RateLimit{
	"route53": {QPS: 4, Burst: 5},
	"elbv2":   {QPS: 40, Burst: 80},
	"ec2":     {QPS: 40, Burst: 80},
	"acm":     {QPS: 10, Burst: 20},
	"tagging": {QPS: 10, Burst: 20},
	// WAFv2 is called when the stack of a gateway with a web ACL is applied, and when an ALB is
	// replaced.
	"wafv2": {QPS: 5, Burst: 10},
}

// serviceIDs map the short names of RateLimits to the SDK's service ids.
var serviceIDs = map[string]string{
	"ec2": "EC2", "elbv2": "Elastic Load Balancing v2", "route53": "Route 53", "acm": "ACM", "tagging": "Resource Groups Tagging API",
	"wafv2": wafv2.ServiceID,
}

// ParseRateLimits reads "route53=4:5,elbv2=40:80" (qps:burst; a burst left out is the QPS
// rounded up) over the defaults.
func ParseRateLimits(s string) (map[string]RateLimit, error) {
	out := maps.Clone(DefaultRateLimits)
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if _, known := serviceIDs[name]; !ok || !known {
			return nil, fmt.Errorf("rate limit %q: want <service>=<qps>[:<burst>] with service one of ec2, elbv2, route53, acm, tagging, wafv2", item)
		}
		qps, burst, hasBurst := strings.Cut(value, ":")
		var l RateLimit
		if _, err := fmt.Sscanf(qps, "%g", &l.QPS); err != nil || l.QPS <= 0 {
			return nil, fmt.Errorf("rate limit %q: the QPS must be a positive number", item)
		}
		l.Burst = int(math.Ceil(l.QPS))
		if hasBurst {
			if _, err := fmt.Sscanf(burst, "%d", &l.Burst); err != nil || l.Burst < 1 {
				return nil, fmt.Errorf("rate limit %q: the burst must be a positive integer", item)
			}
		}
		out[name] = l
	}
	return out, nil
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
	if len(o.RateLimits) > 0 {
		limiters := map[string]*rate.Limiter{}
		for name, l := range o.RateLimits {
			limiters[serviceIDs[name]] = rate.NewLimiter(rate.Limit(l.QPS), l.Burst)
		}
		cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error { return limit(stack, limiters) })
	}
	return &Clients{
		Config:  cfg,
		EC2:     ec2.NewFromConfig(cfg),
		ELBV2:   elbv2.NewFromConfig(cfg),
		Tagging: tagging.NewFromConfig(cfg),
		ACM:     acm.NewFromConfig(cfg),
		Route53: route53.NewFromConfig(cfg),
		WAFV2:   wafv2.NewFromConfig(cfg),
		Calls:   rec,
	}, nil
}

// limit makes every attempt of a call wait for its service's limiter.
func limit(stack *middleware.Stack, limiters map[string]*rate.Limiter) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("istio-alb-rate-limit",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if l := limiters[awsmiddleware.GetServiceID(ctx)]; l != nil {
				if err := l.Wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, err
				}
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
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
	wafv2.ServiceID:               "wafv2",
}

// IAMAction is the IAM action that authorises the call, e.g. "ec2:DescribeInstances".
func (c Call) IAMAction() string {
	prefix, ok := iamPrefixes[c.Service]
	if !ok {
		prefix = strings.ToLower(strings.ReplaceAll(c.Service, " ", ""))
	}
	return prefix + ":" + c.Operation
}
