package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"

	"github.com/verdict-policy/verdict/internal/processtest"
)

const kubeDir = "deploy/kubernetes"

// kinds are the objects the manifests may hold, decoded strictly into
// the Kubernetes API's own types: a misspelt field or a value of the
// wrong type is an error.
var kinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
}

// kustomization is the part of kustomize's file the manifests use.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Patches   []struct {
		Path string `json:"path"`
	} `json:"patches"`
}

// object is one decoded manifest document.
type object struct {
	where string // file:document
	kind  string // apiVersion/kind
	obj   any
}

// strictDecode decodes YAML into v through JSON as the API server does:
// field names match case-sensitively, and unknown or repeated fields are
// errors.
func strictDecode(node *yaml.Node, v any) error {
	var generic any
	if err := node.Decode(&generic); err != nil {
		return err
	}
	data, err := json.Marshal(generic)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// readObjects decodes every document of a manifest file.
func readObjects(t *testing.T, file string) []object {
	t.Helper()
	data := readRepoFile(t, file)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []object
	for i := 1; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		where := fmt.Sprintf("%s (document %d)", file, i)
		key := head.APIVersion + "/" + head.Kind
		newObj, ok := kinds[key]
		if !ok {
			t.Fatalf("%s: unexpected apiVersion/kind %s", where, key)
		}
		obj := newObj()
		if err := strictDecode(&node, obj); err != nil {
			t.Fatalf("%s: %s: %v", where, key, err)
		}
		out = append(out, object{where: where, kind: key, obj: obj})
	}
	return out
}

// kustomize builds the objects of the kustomization in dir as kustomize
// would for what the manifests use: resources (files or directories of
// their own kustomization) and strategic merge patches of ConfigMap data,
// which replace the keys they give.
func kustomize(t *testing.T, dir string) []object {
	t.Helper()
	file := path.Join(dir, "kustomization.yaml")
	var node yaml.Node
	if err := yaml.Unmarshal(readRepoFile(t, file), &node); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var k kustomization
	if err := strictDecode(&node, &k); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: apiVersion/kind %s/%s", file, k.APIVersion, k.Kind)
	}
	var out []object
	for _, r := range k.Resources {
		p := path.Clean(path.Join(dir, r))
		info, err := os.Stat(filepath.Join(processtest.ModuleRoot(t), p))
		if err != nil {
			t.Fatalf("%s: resource %s: %v", file, r, err)
		}
		if info.IsDir() {
			out = append(out, kustomize(t, p)...)
		} else {
			out = append(out, readObjects(t, p)...)
		}
	}
	for _, p := range k.Patches {
		for _, patch := range readObjects(t, path.Join(dir, p.Path)) {
			cm, ok := patch.obj.(*corev1.ConfigMap)
			if !ok {
				t.Fatalf("%s: only ConfigMap patches are understood by this test, not %s", patch.where, patch.kind)
			}
			target := findConfigMap(out, cm.Name)
			if target == nil {
				t.Fatalf("%s: patches ConfigMap %s, which the resources do not have", patch.where, cm.Name)
			}
			maps.Copy(target.Data, cm.Data)
		}
	}
	return out
}

func findConfigMap(objs []object, name string) *corev1.ConfigMap {
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm
		}
	}
	return nil
}

func deployments(objs []object) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			out = append(out, d)
		}
	}
	return out
}

// selects reports whether every label of sel is among labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a port, by number or name, to a port of c.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// kubeConfig is what the tests read of the verdict configuration in a
// ConfigMap: its listeners and its Redis store.
type kubeConfig struct {
	Listen struct {
		Policy, Admin, Gateway string
	}
	Store struct {
		Redis *struct {
			URL string
		}
	}
}

// verdictSetup finds the verdict Deployment of a build, its container,
// and the ConfigMap mounted as its configuration directory with the
// configuration file's key.
func verdictSetup(t *testing.T, objs []object) (*appsv1.Deployment, corev1.Container, *corev1.ConfigMap, string) {
	t.Helper()
	var dep *appsv1.Deployment
	for _, d := range deployments(objs) {
		if d.Name == "verdict" {
			dep = d
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("no Deployment verdict with one container")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("the verdict container's args %q name no --config", c.Args)
	}
	cfgPath := c.Args[i+1]
	for _, m := range c.VolumeMounts {
		if path.Dir(cfgPath) != m.MountPath {
			continue
		}
		if m.SubPath != "" {
			t.Errorf("the configuration is mounted with subPath %q: Kubernetes never updates such a file", m.SubPath)
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cm := findConfigMap(objs, v.ConfigMap.Name)
				if cm == nil {
					t.Fatalf("volume %s names ConfigMap %s, which is not among the manifests", v.Name, v.ConfigMap.Name)
				}
				key := path.Base(cfgPath)
				if _, ok := cm.Data[key]; !ok {
					t.Fatalf("ConfigMap %s has no key %s for --config %s", cm.Name, key, cfgPath)
				}
				return dep, c, cm, key
			}
		}
	}
	t.Fatalf("--config %s is not in a directory mounted from a ConfigMap", cfgPath)
	return nil, c, nil, ""
}

// TestKubernetesManifests decodes every manifest strictly into the
// Kubernetes API's types, builds the base and the Redis example as
// kustomize would, and checks that the pieces agree with each other and
// with the configuration they mount: selectors, named ports, the probes
// on the admin listener, the ports the configuration listens on, the
// Redis Service the store points at, and the pod's security settings.
func TestKubernetesManifests(t *testing.T) {
	root := processtest.ModuleRoot(t)
	// Every YAML file is part of a kustomization, so none is forgotten.
	listed := map[string]bool{}
	for _, dir := range []string{"base", "redis"} {
		var k kustomization
		if err := yaml.Unmarshal(readRepoFile(t, path.Join(kubeDir, dir, "kustomization.yaml")), &k); err != nil {
			t.Fatal(err)
		}
		for _, r := range k.Resources {
			listed[path.Clean(path.Join(kubeDir, dir, r))] = true
		}
		for _, p := range k.Patches {
			listed[path.Join(kubeDir, dir, p.Path)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, kubeDir, "*", "*.yaml"))
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, root+string(filepath.Separator)))
		if path.Base(rel) != "kustomization.yaml" && !listed[rel] {
			t.Errorf("%s is in no kustomization", rel)
		}
	}

	for _, dir := range []string{"base", "redis"} {
		t.Run(dir, func(t *testing.T) {
			objs := kustomize(t, path.Join(kubeDir, dir))
			checkManifests(t, objs)
			checkMountedConfig(t, objs)
		})
	}
}

func checkManifests(t *testing.T, objs []object) {
	seen := map[string]string{}
	for _, o := range objs {
		name := o.obj.(interface{ GetName() string }).GetName()
		id := o.kind + "/" + name
		if first, dup := seen[id]; dup {
			t.Errorf("%s: %s is also in %s", o.where, id, first)
		}
		seen[id] = o.where
	}

	deps := deployments(objs)
	for _, d := range deps {
		pod := d.Spec.Template.Spec
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: its selector does not select its pods", d.Name)
		}
		if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("Deployment %s: the pod must run as a non-root user with the runtime's seccomp profile", d.Name)
		}
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("Deployment %s, container %s: want a read-only root file system, no privilege escalation, every capability dropped", d.Name, c.Name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("Deployment %s, container %s: want CPU and memory requests and a memory limit", d.Name, c.Name)
			}
			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if p == nil {
					t.Errorf("Deployment %s, container %s: a probe is missing", d.Name, c.Name)
					continue
				}
				var port *intstr.IntOrString
				switch {
				case p.HTTPGet != nil:
					port = &p.HTTPGet.Port
				case p.TCPSocket != nil:
					port = &p.TCPSocket.Port
				}
				if port != nil {
					if _, ok := containerPort(c, *port); !ok {
						t.Errorf("Deployment %s, container %s: a probe's port %s is not a port of the container", d.Name, c.Name, port.String())
					}
				}
			}
		}
	}

	for _, o := range objs {
		switch obj := o.obj.(type) {
		case *corev1.Service:
			var target *appsv1.Deployment
			for _, d := range deps {
				if selects(obj.Spec.Selector, d.Spec.Template.Labels) {
					target = d
				}
			}
			if target == nil {
				t.Errorf("Service %s selects no Deployment's pods", obj.Name)
				continue
			}
			for _, p := range obj.Spec.Ports {
				if _, ok := containerPort(target.Spec.Template.Spec.Containers[0], p.TargetPort); !ok {
					t.Errorf("Service %s: targetPort %s is not a port of Deployment %s", obj.Name, p.TargetPort.String(), target.Name)
				}
			}
		case *policyv1.PodDisruptionBudget:
			var target *appsv1.Deployment
			for _, d := range deps {
				if obj.Spec.Selector != nil && selects(obj.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
					target = d
				}
			}
			if target == nil {
				t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", obj.Name)
			} else if obj.Spec.MinAvailable == nil || target.Spec.Replicas == nil || obj.Spec.MinAvailable.IntValue() >= int(*target.Spec.Replicas) {
				t.Errorf("PodDisruptionBudget %s: minAvailable must be below the replicas of %s, or no node can ever be drained", obj.Name, target.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := obj.Spec.ScaleTargetRef
			ok := false
			for _, d := range deps {
				ok = ok || ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && ref.Name == d.Name
			}
			if !ok {
				t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not among the manifests", obj.Name, ref.Kind, ref.Name)
			}
			if obj.Spec.MinReplicas == nil || *obj.Spec.MinReplicas < 2 || obj.Spec.MaxReplicas < *obj.Spec.MinReplicas {
				t.Errorf("HorizontalPodAutoscaler %s: want at least 2 replicas and a maximum above the minimum", obj.Name)
			}
		}
	}
}

// checkMountedConfig checks the verdict Deployment against the
// configuration it mounts, and that the configuration loads.
func checkMountedConfig(t *testing.T, objs []object) {
	dep, c, cm, key := verdictSetup(t, objs)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment verdict: want 2 replicas")
	}
	var cfg kubeConfig
	if err := yaml.Unmarshal([]byte(cm.Data[key]), &cfg); err != nil {
		t.Fatalf("ConfigMap %s, %s: %v", cm.Name, key, err)
	}
	named := func(name string) int32 {
		p, ok := containerPort(c, intstr.FromString(name))
		if !ok {
			t.Errorf("the verdict container has no port named %s", name)
		}
		return p
	}
	listeners := map[string]string{"policy": cfg.Listen.Policy, "admin": cfg.Listen.Admin, "gateway": cfg.Listen.Gateway}
	for name, addr := range listeners {
		if addr == "" {
			continue
		}
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("listen.%s %q: %v", name, addr, err)
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("listen.%s is %q: in a pod it must listen on every interface, or probes and Services cannot reach it", name, addr)
		}
		if want := named(name); strconv.Itoa(int(want)) != p {
			t.Errorf("listen.%s is %s, but the container port named %s is %d", name, addr, name, want)
		}
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("the verdict container needs HTTP probes on %s", want)
			continue
		}
		p, _ := containerPort(c, probe.HTTPGet.Port)
		if probe.HTTPGet.Path != want || strconv.Itoa(int(p)) != port(t, cfg.Listen.Admin) {
			t.Errorf("a probe asks %s on port %d, want %s on the admin listener's port %s", probe.HTTPGet.Path, p, want, port(t, cfg.Listen.Admin))
		}
	}
	if r := cfg.Store.Redis; r != nil {
		host, p := redisHostPort(t, r.URL)
		found := false
		for _, o := range objs {
			if s, ok := o.obj.(*corev1.Service); ok && s.Name == host {
				for _, sp := range s.Spec.Ports {
					found = found || strconv.Itoa(int(sp.Port)) == p
				}
			}
		}
		if !found {
			t.Errorf("store.redis.url %s: no Service %s with port %s among the manifests", r.URL, host, p)
		}
	}

	dir := t.TempDir()
	for k, v := range cm.Data {
		writeTestFile(t, filepath.Join(dir, k), v)
	}
	out, err := exec.Command(verdict.Path(t), "check", "--config", filepath.Join(dir, key)).CombinedOutput()
	if err != nil {
		t.Errorf("verdict check on ConfigMap %s: %v\n%s", cm.Name, err, out)
	}
}

// redisHostPort returns the host and port of a redis:// URL.
func redisHostPort(t *testing.T, u string) (string, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(u, "redis://")
	if !ok {
		t.Fatalf("store.redis.url %q is not redis://", u)
	}
	hostPort, _, _ := strings.Cut(rest, "/")
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort, "6379"
	}
	return host, p
}
