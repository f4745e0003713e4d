// Package model holds the desired AWS state of one gateway as plain data: what the builder
// produces and the deployer applies. Nothing here calls AWS.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Logical resource ids, the values of the istio-alb.io/resource tag.
const (
	ResourceSecurityGroup = "alb-sg"
	ResourceLoadBalancer  = "alb"
	ResourceTargetGroup   = "tg-http"
)

// Stack is everything one gateway needs in AWS. An empty Stack (no LoadBalancer) means
// "delete everything this gateway owns".
type Stack struct {
	// Tags are the user's extra tags, added to every resource beside the ownership tags.
	Tags          map[string]string `json:"tags,omitempty"`
	SecurityGroup *SecurityGroup    `json:"securityGroup,omitempty"`
	// NodeAccess are the rules the ALB's security group needs on the node security group.
	NodeAccess   *NodeAccess   `json:"nodeAccess,omitempty"`
	TargetGroups []TargetGroup `json:"targetGroups,omitempty"`
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
	Listeners    []Listener    `json:"listeners,omitempty"`
	// DNS is the Route53 records wanted for the ALB; nil leaves Route53 alone.
	DNS *DNS `json:"dns,omitempty"`
	// Rules are a group member's listener rules on its group's ALB (see group.go).
	Rules []Rule `json:"rules,omitempty"`
}

// DNS asks for alias records to the ALB for each name.
type DNS struct {
	Names []string `json:"names"` // sorted, distinct; a wildcard name is a wildcard record
	// Private puts the records in the private zones associated with VPCID, else public zones.
	Private   bool   `json:"private"`
	VPCID     string `json:"vpcId"`
	DualStack bool   `json:"dualStack"`
}

// Empty reports whether the stack asks for nothing, i.e. a teardown.
func (s *Stack) Empty() bool { return s == nil || s.LoadBalancer == nil }

// Hash is a digest of the whole desired state: equal hashes mean nothing to apply.
func (s *Stack) Hash() string {
	b, _ := json.Marshal(s) // plain data with sorted map keys: never fails, deterministic
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SecurityGroup is the ALB's own security group.
type SecurityGroup struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	VPCID       string        `json:"vpcId"`
	Ingress     []IngressRule `json:"ingress"`
}

// IngressRule allows TCP traffic on a port range from a CIDR.
type IngressRule struct {
	FromPort int32  `json:"fromPort"`
	ToPort   int32  `json:"toPort"`
	CIDR     string `json:"cidr"` // IPv4 or IPv6 CIDR
}

// NodeAccess lets the ALB's security group reach the nodes on the given TCP ports.
type NodeAccess struct {
	// NodeSecurityGroupID is empty without EC2 nodes (ip targets on Fargate): no rule is added.
	NodeSecurityGroupID string `json:"nodeSecurityGroupId"`
	// Ports are sorted and distinct: nodePorts, or the pods' container ports for ip targets.
	Ports []int32 `json:"ports"`
}

// TargetGroup is an ALB target group with its targets.
type TargetGroup struct {
	ResourceID string `json:"resourceId"`
	Name       string `json:"name"`
	// Port, Protocol, TargetType and VPCID cannot change in place: a change replaces the group.
	Port        int32       `json:"port"`
	Protocol    string      `json:"protocol"`
	TargetType  string      `json:"targetType"`
	VPCID       string      `json:"vpcId"`
	HealthCheck HealthCheck `json:"healthCheck"`
	Targets     []Target    `json:"targets"` // sorted by ID then port
	// ProtocolVersion is HTTP1, HTTP2 or GRPC: how the ALB speaks to the targets. It cannot
	// change in place either (it is part of the name).
	ProtocolVersion string `json:"protocolVersion"`
	// Attributes are the target-group attributes wanted: the user's and the operator's defaults.
	Attributes map[string]string `json:"attributes,omitempty"`
	// DefaultAttributes are AWS's defaults of the other attributes the operator knows: one
	// removed from the annotation (or changed by hand) goes back to its default.
	DefaultAttributes map[string]string `json:"defaultAttributes,omitempty"`
}

// Protocol versions of a target group.
const (
	ProtocolVersionHTTP1 = "HTTP1"
	ProtocolVersionHTTP2 = "HTTP2"
	ProtocolVersionGRPC  = "GRPC"
)

// HealthCheck is a target group's health check. Its Matcher are HTTP codes, or gRPC status codes
// when the target group's protocol version is GRPC.
type HealthCheck struct {
	Protocol           string `json:"protocol"`
	Port               string `json:"port"` // a number or "traffic-port"
	Path               string `json:"path"`
	Matcher            string `json:"matcher"`
	IntervalSeconds    int32  `json:"intervalSeconds"`
	TimeoutSeconds     int32  `json:"timeoutSeconds"`
	HealthyThreshold   int32  `json:"healthyThreshold"`
	UnhealthyThreshold int32  `json:"unhealthyThreshold"`
}

// Target is an instance id (or IP) and the port traffic goes to.
type Target struct {
	ID   string `json:"id"`
	Port int32  `json:"port"`
}

// LoadBalancer is the application load balancer.
type LoadBalancer struct {
	Name          string `json:"name"` // depends on Scheme: a scheme change replaces the ALB
	Scheme        string `json:"scheme"`
	IPAddressType string `json:"ipAddressType"`
	// Subnets are subnet ids, sorted.
	Subnets []string `json:"subnets"`
	// Attributes are the ELBv2 attributes the user set.
	Attributes map[string]string `json:"attributes,omitempty"`
	// DefaultAttributes are AWS's defaults of the other attributes the operator knows: an
	// attribute removed from the annotation (or changed by hand) goes back to its default.
	DefaultAttributes map[string]string `json:"defaultAttributes,omitempty"`
	// WebACLARN is the WAFv2 web ACL the Gateway's annotation associates with the ALB; empty
	// removes the one the operator associated and leaves one attached by hand alone.
	WebACLARN string `json:"webACLArn,omitempty"`
}

// Listener is one ALB listener.
type Listener struct {
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	// SSLPolicy and Certificates are set on HTTPS listeners; the first certificate is the
	// listener's default, the others are SNI certificates.
	SSLPolicy     string   `json:"sslPolicy,omitempty"`
	Certificates  []string `json:"certificates,omitempty"`
	DefaultAction Action   `json:"defaultAction"`
}

// Action is a listener's default action: forward to a target group of this stack, or redirect.
type Action struct {
	// ForwardTo is the ResourceID of a TargetGroup in the same Stack.
	ForwardTo string    `json:"forwardTo,omitempty"`
	Redirect  *Redirect `json:"redirect,omitempty"`
	// FixedResponse answers without a target group (a group's listeners by default).
	FixedResponse *FixedResponse `json:"fixedResponse,omitempty"`
}

// Redirect is a redirect action.
type Redirect struct {
	Protocol   string `json:"protocol"`
	Port       string `json:"port"`
	StatusCode string `json:"statusCode"`
}

// Deployed is what the synthesizers of a stack have made so far, for the ones after them: the
// load balancer needs its security group, the listeners the load balancer and the target groups.
type Deployed struct {
	SecurityGroupID string
	// BackendSecurityGroupID is the cluster's backend group, which the node security group lets
	// reach the nodePorts; empty when the stack needs no node access.
	BackendSecurityGroupID string
	// TargetGroups are target group ARNs by resource id.
	TargetGroups map[string]string
	LoadBalancer DeployedLoadBalancer
}

// DeployedLoadBalancer is the load balancer as AWS answered.
type DeployedLoadBalancer struct {
	ARN                   string
	DNSName               string
	CanonicalHostedZoneID string
	// Created says it was created by this apply (it has no listeners yet).
	Created bool
}
