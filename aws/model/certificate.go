package model

import "time"

// Statuses of an ACM certificate the operator acts on.
const (
	CertificateIssued  = "ISSUED"
	CertificatePending = "PENDING_VALIDATION"
)

// Certificate is what the operator knows of one ACM certificate: read by aws/acm, chosen by
// aws/build.
type Certificate struct {
	ARN    string
	Domain string
	// Names are the domain name and every subject alternative name, lower-cased.
	Names    []string
	Status   string
	NotAfter time.Time
	// InUseBy are the ARNs of the AWS resources using the certificate.
	InUseBy []string
	// Validation are the DNS records ACM wants to see before it issues the certificate.
	Validation []Record
}

// Record is one plain DNS record (name, type, one value), e.g. an ACM validation CNAME.
type Record struct {
	Name  string
	Type  string
	Value string
}

// Usable reports whether the certificate can go on a listener now.
func (c Certificate) Usable(now time.Time) bool {
	return c.Status == CertificateIssued && (c.NotAfter.IsZero() || c.NotAfter.After(now))
}

// Subnet is a subnet an ALB may be placed in.
type Subnet struct {
	ID   string
	Zone string
	// Name is the subnet's Name tag, empty when it has none.
	Name string
}
