package controllers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/external-dns/endpoint"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/acm"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/annotations"
	"github.com/istio-alb-operator/istio-alb-operator/aws/build/frontend"
	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/deploy"
	"github.com/istio-alb-operator/istio-alb-operator/aws/dns"
	"github.com/istio-alb-operator/istio-alb-operator/aws/ec2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/elbv2"
	"github.com/istio-alb-operator/istio-alb-operator/aws/wafv2"
)

// Options are the operator's flags (DESIGN §3); each has an environment-variable default.
type Options struct {
	ClusterName    string
	AWSRegion      string
	VPCID          string
	AWSEndpointURL string
	Kubeconfig     string
	LeaderElect    bool
	// LeaderElectionNamespace holds the lease; empty means the pod's namespace.
	LeaderElectionNamespace string
	MetricsBindAddress      string
	HealthProbeBindAddress  string
	DNSOwnerID              string
	WatchNamespace          string
	DefaultSSLPolicy        string
	SyncPeriod              time.Duration
	// FullSyncPeriod is how often each gateway's whole stack is read back on its own (the
	// drift pass's survey leaves out targets, attributes and certificates).
	FullSyncPeriod time.Duration
	// KubeAPIQPS and KubeAPIBurst bound the requests to the Kubernetes API server.
	KubeAPIQPS   float64
	KubeAPIBurst int
	// MaxConcurrentReconciles is how many Gateways of each kind are reconciled at once.
	MaxConcurrentReconciles int
	// AWSRateLimits are the client-side limits per AWS service, "route53=4:5,elbv2=40:80";
	// services left out keep their defaults (clients.DefaultRateLimits).
	AWSRateLimits string
	// ReconcileTimeout bounds one reconcile of one Gateway (AWS calls included).
	ReconcileTimeout time.Duration
	// CertificateCacheTTL is how long the list of ACM certificates is reused.
	CertificateCacheTTL time.Duration
	// AWSCalls counts every AWS call by operation; nil means the operator keeps its own.
	AWSCalls *clients.Recorder
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
	// UserErrorRetry is the first delay before a Gateway with a user error is looked at again;
	// it doubles up to MaxUserErrorRetry (defaults 30s and 5m).
	UserErrorRetry    time.Duration
	MaxUserErrorRetry time.Duration
	// GroupLimits are the AWS limits a group's ALB is held to (rules and certificates per
	// listener); zero means AWS's. Tests set small ones.
	GroupLimits build.GroupLimits
	// APIDiscoveryInterval is how often the operator checks whether the CRDs of a controller
	// that is off (its Gateway kind not installed) have appeared, to start it; 0 checks only at
	// start.
	APIDiscoveryInterval time.Duration
	// MetricsSecure serves metrics over HTTPS to clients whose bearer token the API server
	// authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview).
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for secure metrics; empty means a self-signed
	// certificate made at start.
	MetricsCertDir string

	// Cluster policy (DESIGN §3).
	// NamespaceSelector selects the namespaces whose Gateways may use the operator (a label
	// selector, empty: all).
	NamespaceSelector string
	// InternetFacingNamespaceSelector selects the namespaces whose Gateways may have
	// internet-facing ALBs (empty: all the operator serves).
	InternetFacingNamespaceSelector string
	// DomainFilter and ZoneIDFilter limit where records are written (comma-separated; empty:
	// everywhere), as external-dns's flags of the same names.
	DomainFilter string
	ZoneIDFilter string
	// DefaultInboundCIDRs and DefaultTags apply to Gateways that do not annotate them.
	DefaultInboundCIDRs string
	DefaultTags         string
	// DNSPreviousOwnerID is an owner id whose records of this operator's gateways (resource
	// istio-alb/...) are taken over: the cluster name by default, the owner id of releases
	// before the default became distinct from external-dns's usual one.
	DNSPreviousOwnerID string

	policy build.Policy
}

// BindFlags registers the flags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.ClusterName, "cluster-name", os.Getenv("CLUSTER_NAME"), "EKS cluster name; tags every AWS resource (required)")
	fs.StringVar(&o.AWSRegion, "aws-region", firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"), "AWS region")
	fs.StringVar(&o.VPCID, "vpc-id", os.Getenv("VPC_ID"), "VPC of the cluster; discovered from the nodes' instances when empty")
	fs.StringVar(&o.AWSEndpointURL, "aws-endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "AWS endpoint override (LocalStack, moto)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig; in-cluster configuration when empty")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "elect a leader among replicas (also with one: a rolling update runs two pods for a while)")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader-election lease; the pod's namespace when empty")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", `metrics address; "0" disables`)
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `/healthz and /readyz address; "0" disables`)
	fs.StringVar(&o.DNSOwnerID, "dns-owner-id", os.Getenv("DNS_OWNER_ID"), `owner id of the Route53 TXT registry (default: "istio-alb-operator-<cluster name>", distinct from the cluster name an external-dns usually owns records as)`)
	fs.StringVar(&o.DNSPreviousOwnerID, "dns-previous-owner-id", os.Getenv("DNS_PREVIOUS_OWNER_ID"), `owner id whose records of this operator's gateways are taken over (default: the cluster name, the default owner id of earlier releases; "none" takes over nothing)`)
	fs.StringVar(&o.WatchNamespace, "watch-namespace", os.Getenv("WATCH_NAMESPACE"), "serve only Gateways of this namespace, whose Services, gateway Deployments and routes must be there too (nothing namespaced is read elsewhere); all namespaces when empty")
	fs.StringVar(&o.DefaultSSLPolicy, "default-ssl-policy", elbv2.DefaultSSLPolicy, "ALB SSL policy when a Gateway sets none")
	fs.DurationVar(&o.SyncPeriod, "sync-period", 10*time.Minute, "how often the drift pass reads the cluster's AWS resources in one batch and repairs the gateways that drifted")
	fs.DurationVar(&o.FullSyncPeriod, "full-sync-period", time.Hour, "how often each gateway's whole stack (targets, attributes, certificates included) is read back and repaired on its own")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", 50, "requests a second to the Kubernetes API server")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", 100, "burst of requests to the Kubernetes API server")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "how many Gateways of each kind are reconciled at once")
	fs.StringVar(&o.AWSRateLimits, "aws-rate-limits", os.Getenv("AWS_RATE_LIMITS"), "client-side AWS call limits per service as <service>=<qps>[:<burst>],... (ec2, elbv2, route53, acm, tagging, wafv2); defaults route53=4:5 (Route53 allows 5 a second per account), elbv2=40:80, ec2=40:80, acm=10:20, tagging=10:20, wafv2=5:10")
	fs.DurationVar(&o.ReconcileTimeout, "reconcile-timeout", 2*time.Minute, "the longest one reconcile of one Gateway may take; it is retried after")
	fs.DurationVar(&o.APIDiscoveryInterval, "api-discovery-interval", 30*time.Second, "how often to check whether the CRDs of a Gateway kind that was missing (Istio's or the Gateway API's) are installed now, to start its controller; 0 checks only at start")
	fs.StringVar(&o.NamespaceSelector, "namespace-selector", os.Getenv("NAMESPACE_SELECTOR"), "label selector of the namespaces whose Gateways may use the operator (e.g. istio-alb.io/allowed=true); all when empty")
	fs.StringVar(&o.InternetFacingNamespaceSelector, "internet-facing-namespace-selector", os.Getenv("INTERNET_FACING_NAMESPACE_SELECTOR"), "label selector of the namespaces whose Gateways may have internet-facing ALBs; the others only internal ones; all when empty")
	fs.StringVar(&o.DomainFilter, "domain-filter", os.Getenv("DOMAIN_FILTER"), "comma-separated domains Route53 records may be written in (hosts outside get no record, with a Warning); all when empty")
	fs.StringVar(&o.ZoneIDFilter, "zone-id-filter", os.Getenv("ZONE_ID_FILTER"), "comma-separated ids of the only hosted zones records may be written in; all when empty")
	fs.StringVar(&o.DefaultInboundCIDRs, "default-inbound-cidrs", os.Getenv("DEFAULT_INBOUND_CIDRS"), "comma-separated CIDRs that may reach an ALB whose Gateway does not set istio-alb.io/inbound-cidrs (default 0.0.0.0/0, and ::/0 when dualstack)")
	fs.StringVar(&o.DefaultTags, "default-tags", os.Getenv("DEFAULT_TAGS"), "k=v,... tags on every AWS resource; a Gateway's istio-alb.io/tags win over them")
	fs.DurationVar(&o.CertificateCacheTTL, "certificate-cache-ttl", 5*time.Minute, "how long the lists of ACM certificates and Route53 hosted zones are reused before they are read again")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve metrics over HTTPS, only to a bearer token the API server authenticates and allows to get /metrics (needs create on tokenreviews and subjectaccessreviews)")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for --metrics-secure; a self-signed certificate when empty")
}

// Complete validates the options and fills defaults.
func (o *Options) Complete() error {
	if o.ClusterName == "" {
		return errors.New("--cluster-name is required")
	}
	if o.DNSOwnerID == "" {
		o.DNSOwnerID = DefaultDNSOwnerPrefix + o.ClusterName
	}
	switch o.DNSPreviousOwnerID {
	case "":
		o.DNSPreviousOwnerID = o.ClusterName
	case "none":
		o.DNSPreviousOwnerID = ""
	}
	if o.DNSPreviousOwnerID == o.DNSOwnerID {
		o.DNSPreviousOwnerID = ""
	}
	if err := o.completePolicy(); err != nil {
		return err
	}
	if o.CertificateCacheTTL <= 0 {
		o.CertificateCacheTTL = 5 * time.Minute
	}
	if o.DefaultSSLPolicy == "" {
		o.DefaultSSLPolicy = elbv2.DefaultSSLPolicy
	}
	if _, err := clients.ParseRateLimits(o.AWSRateLimits); err != nil {
		return fmt.Errorf("--aws-rate-limits: %w", err)
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 4
	}
	if o.ReconcileTimeout <= 0 {
		o.ReconcileTimeout = 2 * time.Minute
	}
	if o.UserErrorRetry <= 0 {
		o.UserErrorRetry = 30 * time.Second
	}
	if o.MaxUserErrorRetry < o.UserErrorRetry {
		o.MaxUserErrorRetry = max(5*time.Minute, o.UserErrorRetry)
	}
	if o.APIDiscoveryInterval < 0 {
		return fmt.Errorf("--api-discovery-interval must not be negative, got %s", o.APIDiscoveryInterval)
	}
	if o.FullSyncPeriod < o.SyncPeriod {
		o.FullSyncPeriod = max(time.Hour, o.SyncPeriod)
	}
	if o.SyncPeriod <= 0 {
		return fmt.Errorf("--sync-period must be positive, got %s", o.SyncPeriod)
	}
	return nil
}

// DefaultDNSOwnerPrefix starts the default owner id of the TXT registry. It makes the owner id
// differ from the cluster name, which is what an external-dns of the cluster usually runs with
// (--txt-owner-id): with the same id, an external-dns with --policy=sync would take the
// operator's records for its own and delete them.
const DefaultDNSOwnerPrefix = "istio-alb-operator-"

// completePolicy parses the cluster policy's flags.
func (o *Options) completePolicy() error {
	var pol build.Policy
	for _, f := range []struct {
		flag, value string
		into        *labels.Selector
	}{{"--namespace-selector", o.NamespaceSelector, &pol.Namespaces}, {"--internet-facing-namespace-selector", o.InternetFacingNamespaceSelector, &pol.InternetFacing}} {
		if strings.TrimSpace(f.value) == "" {
			continue
		}
		sel, err := labels.Parse(f.value)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", f.flag, f.value, err)
		}
		*f.into = sel
	}
	if domains := splitList(o.DomainFilter); len(domains) > 0 {
		pol.Domains = endpoint.NewDomainFilter(domains)
	}
	// The defaults are checked as the annotations they stand for (dualstack, so that IPv6
	// CIDRs may be given for dualstack ALBs).
	a := map[string]string{annotations.IPAddressType: annotations.IPAddressTypeDual}
	if o.DefaultInboundCIDRs != "" {
		a[annotations.InboundCIDRs] = o.DefaultInboundCIDRs
	}
	if o.DefaultTags != "" {
		a[annotations.Tags] = o.DefaultTags
	}
	cfg, errs := annotations.Parse(a)
	if len(errs) > 0 {
		msg := errs.ToAggregate().Error()
		msg = strings.ReplaceAll(msg, "metadata.annotations["+annotations.InboundCIDRs+"]", "--default-inbound-cidrs")
		msg = strings.ReplaceAll(msg, "metadata.annotations["+annotations.Tags+"]", "--default-tags")
		return errors.New(msg)
	}
	if o.DefaultInboundCIDRs != "" {
		pol.Defaults.InboundCIDRs = cfg.InboundCIDRs
	}
	pol.Defaults.Tags = cfg.Tags
	o.policy = pol
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// RESTConfig loads the Kubernetes client configuration.
func (o *Options) RESTConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, err
	}
	// client-go's default of 5 requests a second would make the API server, not AWS, the pace
	// of a fleet of gateways (each writes its finalizer, status and Events).
	cfg.QPS, cfg.Burst = float32(o.KubeAPIQPS), o.KubeAPIBurst
	return cfg, nil
}

// Scheme has every type the operator reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = istionet.AddToScheme(s)
	_ = gwapiv1.Install(s)
	return s
}

// NewManager builds the manager with the AWS clients and the reconcilers.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (manager.Manager, error) {
	if err := o.Complete(); err != nil {
		return nil, err
	}
	limits, err := clients.ParseRateLimits(o.AWSRateLimits)
	if err != nil {
		return nil, err
	}
	aws, err := clients.New(ctx, clients.Options{Region: o.AWSRegion, EndpointURL: o.AWSEndpointURL, Calls: o.AWSCalls, Observe: ObserveAWSCall, RateLimits: limits})
	if err != nil {
		return nil, err
	}
	mopts := ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "istio-alb-operator.istio-alb.io",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// A stopping replica hands the lease over at once (graceful shutdown on SIGTERM).
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
	}
	if o.WatchNamespace != "" {
		// Namespaced kinds are read (listed and watched) in that namespace only, so a Role there
		// is all the RBAC they need; cluster-scoped kinds (Nodes, Namespaces, GatewayClasses)
		// are not affected by DefaultNamespaces.
		mopts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.WatchNamespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if o.HealthProbeBindAddress != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("informer-caches", cachesSynced(mgr.GetCache(), time.Second)); err != nil {
			return nil, err
		}
	}
	pipeline := newPipeline(aws, o, mgr.GetClient(), mgr.GetEventRecorder("istio-alb-operator"))
	// The drift pass hands the gateways that drifted to their controller.
	pass := &DriftPass{Pipeline: pipeline, Client: mgr.GetClient(), Drifted: map[string]chan event.GenericEvent{
		frontend.KindIstio: make(chan event.GenericEvent, 1024), frontend.KindGatewayAPI: make(chan event.GenericEvent, 1024)}}
	if err := mgr.Add(pass); err != nil {
		return nil, err
	}
	istio := &IstioGatewayReconciler{Client: mgr.GetClient(), Pipeline: pipeline, WatchNamespace: o.WatchNamespace,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, Drifted: pass.Drifted[frontend.KindIstio]}
	gatewayAPI := &GatewayAPIReconciler{Client: mgr.GetClient(), Pipeline: pipeline, WatchNamespace: o.WatchNamespace,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, Drifted: pass.Drifted[frontend.KindGatewayAPI]}
	pipeline.Resolvers = map[string]Resolver{frontend.KindIstio: istio, frontend.KindGatewayAPI: gatewayAPI}
	// Each controller runs when the API server serves its kinds; one whose CRDs are missing is
	// off, and started when they appear.
	starter := newControllerStarter(mgr, o.APIDiscoveryInterval,
		optionalController{name: IstioControllerName, kinds: istioKinds, setup: istio.SetupWithManager},
		optionalController{name: GatewayAPIControllerName, kinds: gatewayAPIKinds, setup: gatewayAPI.SetupWithManager})
	if err := starter.startServed(true); err != nil {
		return nil, err
	}
	if starter.waiting() {
		if err := mgr.Add(starter); err != nil {
			return nil, err
		}
	}
	if o.HealthProbeBindAddress != "0" {
		for _, name := range []string{IstioControllerName, GatewayAPIControllerName} {
			if err := mgr.AddReadyzCheck("controller-"+name, starter.readyz()); err != nil {
				return nil, err
			}
		}
	}
	return mgr, nil
}

// newPipeline wires the pipeline onto the AWS clients; o is completed.
func newPipeline(aws *clients.Clients, o Options, c client.Client, recorder events.EventRecorder) *Pipeline {
	zones := &dns.Zones{API: aws.Route53, TTL: o.CertificateCacheTTL, IDs: splitList(o.ZoneIDFilter)}
	syncer := &dns.Syncer{Zones: zones, OwnerID: o.DNSOwnerID, PreviousOwnerID: o.DNSPreviousOwnerID}
	return &Pipeline{
		Client:     c,
		Events:     recorder,
		Deployer:   &deploy.Deployer{Tagging: aws.Tagging, EC2: aws.EC2, ELBV2: aws.ELBV2, Backend: &ec2.Backend{API: aws.EC2, Cluster: o.ClusterName}, WAFV2: aws.WAFV2},
		Discoverer: &ec2.Discoverer{API: aws.EC2, ClusterName: o.ClusterName, VPCID: o.VPCID, TTL: o.SyncPeriod},
		TLS: &TLS{
			Catalog:          &acm.Catalog{API: aws.ACM, TTL: o.CertificateCacheTTL},
			Policies:         &elbv2.SSLPolicies{API: aws.ELBV2},
			ACM:              aws.ACM,
			Tagging:          aws.Tagging,
			DNS:              syncer,
			InDomains:        o.policy.InDomains,
			DefaultSSLPolicy: o.DefaultSSLPolicy,
		},
		DNS:            syncer,
		ClusterName:    o.ClusterName,
		Policy:         o.policy,
		Region:         aws.Config.Region,
		SyncPeriod:     o.SyncPeriod,
		FullSyncPeriod: o.FullSyncPeriod,
		UserErrorRetry: o.UserErrorRetry, MaxUserErrorRetry: o.MaxUserErrorRetry, ReconcileTimeout: o.ReconcileTimeout,
		WebACLs:     &wafv2.WebACLs{API: aws.WAFV2, TTL: o.CertificateCacheTTL},
		GroupLimits: o.GroupLimits,
	}
}

// metricsOptions serves metrics in plain HTTP, or with --metrics-secure over HTTPS behind
// controller-runtime's authentication and authorization filter.
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.MetricsSecure {
		m.SecureServing, m.CertDir = true, o.MetricsCertDir
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}
