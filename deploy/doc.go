// Package deploy holds Verdict's deployment files rather than code: the
// configuration of the container image (docker/), a systemd unit
// (systemd/), Kubernetes manifests (kubernetes/) and a Grafana dashboard
// (grafana/). Its tests hold each of them to what the verdict binary
// really does, without Docker, systemd or a cluster.
package deploy
