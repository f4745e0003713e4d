package integration_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// sharedBinary is the operator binary, built once for the scenarios that only run it.
var sharedBinary struct {
	once sync.Once
	path string
	err  error
}

func operatorBinary(t testing.TB) string {
	t.Helper()
	sharedBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "istio-alb-operator-bin")
		if err != nil {
			sharedBinary.err = err
			return
		}
		sharedBinary.path = filepath.Join(dir, "istio-alb-operator")
		out, err := exec.Command("go", "build", "-o", sharedBinary.path, filepath.Join(rig.Root(), "cmd", "istio-alb-operator")).CombinedOutput()
		if err != nil {
			sharedBinary.err = &buildError{err: err, out: string(out)}
		}
	})
	if sharedBinary.err != nil {
		t.Fatal(sharedBinary.err)
	}
	return sharedBinary.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// process is a running operator binary.
type process struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{}
	once sync.Once
}

// startOperator runs the operator binary against the scenario's API server with its AWS calls
// sent to endpoint; leader election is off (the fault scenarios run one process at a time, and a
// killed leader's lease would only delay the next).
func (s *scenario) startOperator(kubeconfig, endpoint string, extra ...string) *process {
	s.t.Helper()
	args := append([]string{"--cluster-name", clusterName, "--kubeconfig", kubeconfig, "--aws-endpoint-url", endpoint,
		"--health-probe-bind-address", "0", "--metrics-bind-address", "0", "--leader-elect=false"}, extra...)
	cmd := exec.Command(operatorBinary(s.t), args...)
	cmd.Env = append(os.Environ(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	must(s.t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.t.Cleanup(func() {
		p.stop()
		if s.t.Failed() && os.Getenv("ISTIO_ALB_TEST_VERBOSE") == "1" {
			s.t.Logf("operator logs:\n%s", p.logs.String())
		}
	})
	return p
}

// kill kills the process at once (SIGKILL): no clean shutdown, nothing it knew is kept.
func (p *process) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// stop asks the process to stop (SIGTERM) and waits, killing it after 20s.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}
