// Package seed creates, on the AWS endpoint, what a real EKS account already has before the
// operator runs: a VPC, subnets in two zones tagged for load balancers and the cluster, a node
// security group, EC2 instances for the nodes, a public hosted zone and a private one of the
// same domain for the VPC, and an issued certificate.
package seed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Options shape the seeded account.
type Options struct {
	ClusterName string
	Zones       []string // default: <region>a, <region>b
	Nodes       int      // EC2 instances, default 2
	Domain      string   // public hosted zone, default example.com
}

// Environment is what was seeded.
type Environment struct {
	VPCID               string
	PublicSubnets       []string
	PrivateSubnets      []string
	NodeSecurityGroupID string
	Instances           []Instance
	HostedZoneID        string
	// PrivateHostedZoneID is a private zone of the same domain associated with the VPC.
	PrivateHostedZoneID string
	CertificateARN      string
}

// Instance is a seeded node instance.
type Instance struct {
	ID   string
	Zone string
}

// ProviderID is the Node spec.providerID of this instance on EKS.
func (i Instance) ProviderID() string { return "aws:///" + i.Zone + "/" + i.ID }

// Reset empties the emulator: moto's /moto-api/reset, or LocalStack's state reset.
func Reset(ctx context.Context, endpoint string) error {
	for _, path := range []string{"/moto-api/reset", "/_localstack/state/reset"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("resetting the AWS endpoint %s: %w", endpoint, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			return nil
		}
	}
	return fmt.Errorf("the AWS endpoint %s offers no reset (moto or LocalStack)", endpoint)
}

// Seed creates the account's resources.
func Seed(ctx context.Context, cfg aws.Config, o Options) (*Environment, error) {
	if len(o.Zones) == 0 {
		o.Zones = []string{cfg.Region + "a", cfg.Region + "b"}
	}
	if o.Nodes == 0 {
		o.Nodes = 2
	}
	if o.Domain == "" {
		o.Domain = "example.com"
	}
	e := ec2.NewFromConfig(cfg)
	env := &Environment{}
	clusterTag := "kubernetes.io/cluster/" + o.ClusterName

	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"),
		TagSpecifications: tagSpec(ec2types.ResourceTypeVpc, "Name", "eks-"+o.ClusterName, clusterTag, "shared")})
	if err != nil {
		return nil, fmt.Errorf("CreateVpc: %w", err)
	}
	env.VPCID = aws.ToString(vpc.Vpc.VpcId)
	for i, zone := range o.Zones {
		pub, err := subnet(ctx, e, env.VPCID, zone, fmt.Sprintf("10.0.%d.0/24", i), "public-"+zone, "kubernetes.io/role/elb", clusterTag)
		if err != nil {
			return nil, err
		}
		priv, err := subnet(ctx, e, env.VPCID, zone, fmt.Sprintf("10.0.%d.0/24", 100+i), "private-"+zone, "kubernetes.io/role/internal-elb", clusterTag)
		if err != nil {
			return nil, err
		}
		env.PublicSubnets = append(env.PublicSubnets, pub)
		env.PrivateSubnets = append(env.PrivateSubnets, priv)
	}
	sg, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("eks-" + o.ClusterName + "-node"), Description: aws.String("EKS node security group"), VpcId: aws.String(env.VPCID),
		TagSpecifications: tagSpec(ec2types.ResourceTypeSecurityGroup, clusterTag, "owned"),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateSecurityGroup: %w", err)
	}
	env.NodeSecurityGroupID = aws.ToString(sg.GroupId)

	images, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(images.Images) == 0 {
		return nil, fmt.Errorf("DescribeImages found no image to run nodes from: %v", err)
	}
	for i := 0; i < o.Nodes; i++ {
		zone := o.Zones[i%len(o.Zones)]
		in := &ec2.RunInstancesInput{
			ImageId: images.Images[0].ImageId, InstanceType: ec2types.InstanceTypeM5Large, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: aws.String(env.PrivateSubnets[i%len(o.Zones)]), SecurityGroupIds: []string{env.NodeSecurityGroupID},
			TagSpecifications: tagSpec(ec2types.ResourceTypeInstance, "Name", fmt.Sprintf("%s-node-%d", o.ClusterName, i), clusterTag, "owned"),
		}
		run, err := e.RunInstances(ctx, in)
		// The emulator has once answered InvalidGroup.NotFound for the group it had just created:
		// a bounded retry (3 tries, 200ms apart).
		for try := 1; err != nil && try < 3 && strings.Contains(err.Error(), "InvalidGroup.NotFound"); try++ {
			time.Sleep(200 * time.Millisecond)
			run, err = e.RunInstances(ctx, in)
		}
		if err != nil {
			return nil, fmt.Errorf("RunInstances: %w", err)
		}
		env.Instances = append(env.Instances, Instance{ID: aws.ToString(run.Instances[0].InstanceId), Zone: zone})
	}

	zone, err := route53.NewFromConfig(cfg).CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String(o.Domain), CallerReference: aws.String(fmt.Sprintf("seed-%d", time.Now().UnixNano())),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateHostedZone: %w", err)
	}
	env.HostedZoneID = strings.TrimPrefix(aws.ToString(zone.HostedZone.Id), "/hostedzone/")
	private, err := route53.NewFromConfig(cfg).CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String(o.Domain), CallerReference: aws.String(fmt.Sprintf("seed-private-%d", time.Now().UnixNano())),
		HostedZoneConfig: &r53types.HostedZoneConfig{PrivateZone: true, Comment: aws.String("split-horizon zone of the cluster VPC")},
		VPC:              &r53types.VPC{VPCId: aws.String(env.VPCID), VPCRegion: r53types.VPCRegion(cfg.Region)},
	})
	if err != nil {
		return nil, fmt.Errorf("CreateHostedZone (private): %w", err)
	}
	env.PrivateHostedZoneID = strings.TrimPrefix(aws.ToString(private.HostedZone.Id), "/hostedzone/")

	certPEM, keyPEM, err := selfSigned("*."+o.Domain, o.Domain)
	if err != nil {
		return nil, err
	}
	cert, err := acm.NewFromConfig(cfg).ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		return nil, fmt.Errorf("ImportCertificate: %w", err)
	}
	env.CertificateARN = aws.ToString(cert.CertificateArn)
	return env, nil
}

func subnet(ctx context.Context, e *ec2.Client, vpc, zone, cidr, name, role, clusterTag string) (string, error) {
	out, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), AvailabilityZone: aws.String(zone), CidrBlock: aws.String(cidr),
		TagSpecifications: tagSpec(ec2types.ResourceTypeSubnet, "Name", name, role, "1", clusterTag, "shared")})
	if err != nil {
		return "", fmt.Errorf("CreateSubnet %s: %w", name, err)
	}
	return aws.ToString(out.Subnet.SubnetId), nil
}

func tagSpec(t ec2types.ResourceType, kv ...string) []ec2types.TagSpecification {
	var ts []ec2types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		ts = append(ts, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []ec2types.TagSpecification{{ResourceType: t, Tags: ts}}
}

// ImportCertificate imports a self-signed certificate for names that expires after validFor
// (negative: already expired) and returns its ARN.
func ImportCertificate(ctx context.Context, cfg aws.Config, validFor time.Duration, names ...string) (string, error) {
	certPEM, keyPEM, err := selfSignedUntil(time.Now().Add(validFor), names...)
	if err != nil {
		return "", err
	}
	out, err := acm.NewFromConfig(cfg).ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		return "", fmt.Errorf("ImportCertificate %v: %w", names, err)
	}
	return aws.ToString(out.CertificateArn), nil
}

// selfSigned makes a certificate for the given names, valid for a year, to import into ACM.
func selfSigned(names ...string) (certPEM, keyPEM []byte, err error) {
	return selfSignedUntil(time.Now().Add(365*24*time.Hour), names...)
}

func notBefore(notAfter time.Time) time.Time {
	if hourAgo := time.Now().Add(-time.Hour); hourAgo.Before(notAfter) {
		return hourAgo
	}
	return notAfter.Add(-time.Hour)
}

func selfSignedUntil(notAfter time.Time, names ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore(notAfter), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	var c, k bytes.Buffer
	_ = pem.Encode(&c, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return c.Bytes(), k.Bytes(), nil
}
