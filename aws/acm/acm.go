// Package acm finds the ACM certificates that serve a gateway's hosts: it keeps a cached
// catalog of issued certificates, chooses the smallest covering set for a listener, and
// requests DNS-validated certificates for hosts nothing covers, without ever blocking.
package acm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
	"github.com/istio-alb-operator/istio-alb-operator/aws/tags"
)

// API is the subset of the ACM client the operator uses; *acm.Client satisfies it.
type API interface {
	ListCertificates(context.Context, *acm.ListCertificatesInput, ...func(*acm.Options)) (*acm.ListCertificatesOutput, error)
	DescribeCertificate(context.Context, *acm.DescribeCertificateInput, ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
	RequestCertificate(context.Context, *acm.RequestCertificateInput, ...func(*acm.Options)) (*acm.RequestCertificateOutput, error)
	DeleteCertificate(context.Context, *acm.DeleteCertificateInput, ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error)
}

var _ API = (*acm.Client)(nil)

// ResourceType is the tagging-API type of ACM certificates.
const ResourceType = "acm:certificate"

// ResourceCertificate is the logical id (istio-alb.io/resource) of a certificate the operator
// requested.
const ResourceCertificate = "certificate"

// albKeyTypes are the key algorithms an ALB listener accepts. ListCertificates returns only
// RSA_1024 and RSA_2048 certificates unless asked for more.
var albKeyTypes = []acmtypes.KeyAlgorithm{
	acmtypes.KeyAlgorithmRsa2048, acmtypes.KeyAlgorithmRsa3072, acmtypes.KeyAlgorithmRsa4096,
	acmtypes.KeyAlgorithmEcPrime256v1, acmtypes.KeyAlgorithmEcSecp384r1, acmtypes.KeyAlgorithmEcSecp521r1,
}

// Catalog is a cached view of the account's certificates. Within TTL, Issued and Describe make
// no call: a steady reconcile costs nothing in ACM.
type Catalog struct {
	API API
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	listedAt  time.Time
	issued    []model.Certificate
	described map[string]described
}

type described struct {
	cert model.Certificate
	at   time.Time
}

func (c *Catalog) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Issued returns the ISSUED certificates of the account, listed at most once per TTL. A
// certificate whose listing does not carry all its names is described once (and cached).
func (c *Catalog) Issued(ctx context.Context) ([]model.Certificate, error) {
	c.mu.Lock()
	if !c.listedAt.IsZero() && c.now().Sub(c.listedAt) < c.TTL {
		defer c.mu.Unlock()
		return c.issued, nil
	}
	c.mu.Unlock()

	var out []model.Certificate
	p := acm.NewListCertificatesPaginator(c.API, &acm.ListCertificatesInput{
		CertificateStatuses: []acmtypes.CertificateStatus{acmtypes.CertificateStatusIssued},
		Includes:            &acmtypes.Filters{KeyTypes: albKeyTypes},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListCertificates: %w", err)
		}
		for _, s := range page.CertificateSummaryList {
			cert := model.Certificate{ARN: aws.ToString(s.CertificateArn), Domain: aws.ToString(s.DomainName), Status: string(s.Status), NotAfter: aws.ToTime(s.NotAfter)}
			cert.Names = names(cert.Domain, s.SubjectAlternativeNameSummaries)
			if len(s.SubjectAlternativeNameSummaries) == 0 || aws.ToBool(s.HasAdditionalSubjectAlternativeNames) || cert.Status == "" {
				// The listing is incomplete (or the endpoint does not fill it in): describe,
				// once per certificate, since an ARN's names never change.
				full, err := c.describe(ctx, cert.ARN, true)
				if err != nil {
					return nil, err
				}
				cert = full
			}
			out = append(out, cert)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.issued, c.listedAt = out, c.now()
	return out, nil
}

// Describe returns one certificate, described at most once per TTL.
func (c *Catalog) Describe(ctx context.Context, arn string) (model.Certificate, error) {
	return c.describe(ctx, arn, false)
}

// DescribeNow describes a certificate without the cache (a pending certificate's status).
func (c *Catalog) DescribeNow(ctx context.Context, arn string) (model.Certificate, error) {
	out, err := c.API.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		return model.Certificate{}, fmt.Errorf("DescribeCertificate %s: %w", arn, err)
	}
	cert := fromDetail(out.Certificate)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.described == nil {
		c.described = map[string]described{}
	}
	c.described[arn] = described{cert: cert, at: c.now()}
	if cert.Usable(c.now()) && !c.listedAt.IsZero() {
		// A certificate that just became ISSUED joins the cached list at once.
		present := false
		for _, x := range c.issued {
			present = present || x.ARN == arn
		}
		if !present {
			c.issued = append(c.issued, cert)
		}
	}
	return cert, nil
}

func (c *Catalog) describe(ctx context.Context, arn string, namesOnly bool) (model.Certificate, error) {
	c.mu.Lock()
	d, ok := c.described[arn]
	c.mu.Unlock()
	if ok && (namesOnly || c.now().Sub(d.at) < c.TTL) {
		return d.cert, nil
	}
	return c.DescribeNow(ctx, arn)
}

// IsNotFound reports whether err says the certificate does not exist.
func IsNotFound(err error) bool {
	return clients.IsNotFound(err)
}

func fromDetail(d *acmtypes.CertificateDetail) model.Certificate {
	if d == nil {
		return model.Certificate{}
	}
	c := model.Certificate{
		ARN: aws.ToString(d.CertificateArn), Domain: aws.ToString(d.DomainName),
		Status: string(d.Status), NotAfter: aws.ToTime(d.NotAfter), InUseBy: d.InUseBy,
	}
	c.Names = names(c.Domain, d.SubjectAlternativeNames)
	for _, v := range d.DomainValidationOptions {
		if r := v.ResourceRecord; r != nil {
			c.Validation = append(c.Validation, model.Record{Name: aws.ToString(r.Name), Type: string(r.Type), Value: aws.ToString(r.Value)})
		}
	}
	return c
}

func names(domain string, sans []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append([]string{domain}, sans...) {
		if n = strings.ToLower(n); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Requests finds and requests the certificates the operator asks ACM for on behalf of one
// gateway. They are tagged with the gateway's ownership tags, and the request carries an
// idempotency token derived from the owner and the host, so a retry never creates a second one.
type Requests struct {
	API     API
	Tagging tags.TaggingAPI
	Catalog *Catalog
	Owner   tags.Owner
}

// Request asks ACM for a DNS-validated certificate for host, tagged for the owner. It never
// waits: the certificate comes back PENDING_VALIDATION, with the validation records once ACM has
// computed them. The idempotency token derived from the owner and the host makes a retry return
// the same certificate.
func (r *Requests) Request(ctx context.Context, host string) (model.Certificate, error) {
	req, err := r.API.RequestCertificate(ctx, &acm.RequestCertificateInput{
		DomainName:       aws.String(host),
		ValidationMethod: acmtypes.ValidationMethodDns,
		IdempotencyToken: aws.String(token(r.Owner, host)),
		Tags:             acmTags(r.Owner.For(ResourceCertificate, nil)),
	})
	if err != nil {
		return model.Certificate{}, fmt.Errorf("RequestCertificate %s: %w", host, err)
	}
	return r.Catalog.DescribeNow(ctx, aws.ToString(req.CertificateArn))
}

// Mine describes the certificates requested for this gateway (fresh, not cached).
func (r *Requests) Mine(ctx context.Context) ([]model.Certificate, error) {
	found, err := tags.Find(ctx, r.Tagging, r.Owner, ResourceType)
	if err != nil {
		return nil, err
	}
	arns := make([]string, 0, len(found))
	for _, f := range found {
		arns = append(arns, f.ARN)
	}
	return r.Describe(ctx, arns)
}

// Describe describes certificates (fresh, not cached), skipping those that no longer exist.
func (r *Requests) Describe(ctx context.Context, arns []string) ([]model.Certificate, error) {
	var out []model.Certificate
	for _, arn := range arns {
		c, err := r.Catalog.DescribeNow(ctx, arn)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete deletes a certificate the operator requested.
func (r *Requests) Delete(ctx context.Context, arn string) error {
	if _, err := r.API.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("DeleteCertificate %s: %w", arn, err)
	}
	return nil
}

// token is the RequestCertificate idempotency token (\w{1,32}) of one owner and host.
func token(o tags.Owner, host string) string {
	sum := sha256.Sum256([]byte(o.Cluster + "\x00" + o.GatewayKey + "\x00" + host))
	return hex.EncodeToString(sum[:])[:32]
}

func acmTags(m map[string]string) []acmtypes.Tag {
	var out []acmtypes.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, acmtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
