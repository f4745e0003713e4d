package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestVersionPrintsTheBuildVersionWithoutNeedingAClusterName(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := "istio-alb-operator dev " + runtime.Version() + "\n"; out.String() != want {
		t.Fatalf("--version printed %q, want %q", out.String(), want)
	}
}

// The version reaches the binary only through -X main.version: the Makefile and the Dockerfile
// must name this variable.
func TestTheMakefileAndTheDockerfileSetThisVersionVariable(t *testing.T) {
	for _, f := range []string{"../../Makefile", "../../Dockerfile"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "-X main.version=") {
			t.Errorf("%s does not set -X main.version=", f)
		}
	}
}

func TestIAMPolicyPrintsThePolicyForTheClusterAndZonesGiven(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"iam-policy", "--cluster-name", "blue", "--hosted-zone-ids", "Z123, Z456"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, want := range []string{`"aws:RequestTag/istio-alb.io/cluster": "blue"`, `"arn:aws:route53:::hostedzone/Z123"`, `"arn:aws:route53:::hostedzone/Z456"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the policy lacks %s", want)
		}
	}
	if errOut.Len() > 0 {
		t.Errorf("unexpected stderr: %s", errOut.String())
	}
}

func TestIAMPolicyWithoutAClusterNameIsAnError(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"iam-policy"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--cluster-name is required") {
		t.Fatalf("err = %v, want --cluster-name is required", err)
	}
}
