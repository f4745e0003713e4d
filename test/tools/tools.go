//go:build tools

// Package tools pins the commands built into bin/ for the test rig.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
