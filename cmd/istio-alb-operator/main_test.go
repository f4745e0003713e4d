package main

import (
	"bytes"
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
