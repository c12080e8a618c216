package check

import (
	"fmt"
	"iter"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podTemplate returns a workload's pod template, the field path to its pod
// spec, and whether it runs to completion (so it needs no probes).
func podTemplate(obj runtime.Object) (t *corev1.PodTemplateSpec, specPath string, batch bool) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template, "spec.template.spec", false
	case *appsv1.StatefulSet:
		return &w.Spec.Template, "spec.template.spec", false
	case *appsv1.DaemonSet:
		return &w.Spec.Template, "spec.template.spec", false
	case *batchv1.Job:
		return &w.Spec.Template, "spec.template.spec", true
	case *batchv1.CronJob:
		return &w.Spec.JobTemplate.Spec.Template, "spec.jobTemplate.spec.template.spec", true
	}
	return nil, "", false
}

// required checks the fields that strict decoding accepts when absent.
func (c *checker) required(o *object) {
	if t, specPath, _ := podTemplate(o.obj); t != nil {
		for path, ctr := range containers(t, specPath) {
			if ctr.Name == "" {
				c.add(o.finding(path+".name", "missing"))
			}
			if ctr.Image == "" {
				c.add(o.finding(path+".image", "missing"))
			}
		}
	}
	switch v := o.obj.(type) {
	case *corev1.Service:
		for i, p := range v.Spec.Ports {
			if p.Port == 0 {
				c.add(o.finding(fmt.Sprintf("spec.ports[%d].port", i), "missing"))
			}
		}
	case *monitoringv1.PrometheusRule:
		for i, g := range v.Spec.Groups {
			for j, r := range g.Rules {
				path := fmt.Sprintf("spec.groups[%d].rules[%d]", i, j)
				if r.Alert == "" && r.Record == "" {
					c.add(o.finding(path, "needs alert or record"))
				}
				if expr := r.Expr.String(); expr == "" {
					c.add(o.finding(path+".expr", "missing"))
				} else if err := parsePromQL(expr); err != nil {
					c.add(o.finding(path+".expr", "PromQL does not parse: %v", err))
				}
			}
		}
	case *corev1.ConfigMap:
		keys := make([]string, 0, len(v.Data))
		for k := range v.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasSuffix(k, ".json") {
				c.dashboard(o.file, o.id, "data["+k+"].", []byte(v.Data[k]))
			}
		}
	}
}

// containers yields every container of a pod template with its field path,
// init containers first.
func containers(t *corev1.PodTemplateSpec, specPath string) iter.Seq2[string, *corev1.Container] {
	return func(yield func(string, *corev1.Container) bool) {
		for i := range t.Spec.InitContainers {
			if !yield(fmt.Sprintf("%s.initContainers[%d]", specPath, i), &t.Spec.InitContainers[i]) {
				return
			}
		}
		for i := range t.Spec.Containers {
			if !yield(fmt.Sprintf("%s.containers[%d]", specPath, i), &t.Spec.Containers[i]) {
				return
			}
		}
	}
}

// policy applies the repository's rules to the objects of one build:
// workloads are production-ready, and every Service reaches a workload.
func (c *checker) policy(objs []*object) {
	for _, o := range objs {
		if t, specPath, batch := podTemplate(o.obj); t != nil {
			c.workload(o, t, specPath, batch)
		}
	}
	for _, o := range objs {
		if svc, ok := o.obj.(*corev1.Service); ok {
			c.service(o, svc, objs)
		}
	}
}

func (c *checker) workload(o *object, t *corev1.PodTemplateSpec, specPath string, batch bool) {
	podNonRoot := t.Spec.SecurityContext != nil && t.Spec.SecurityContext.RunAsNonRoot != nil && *t.Spec.SecurityContext.RunAsNonRoot
	for path, ctr := range containers(t, specPath) {
		// Init containers and run-to-completion pods are not probed.
		probes := !batch && !strings.Contains(path, ".initContainers[")
		for _, section := range []struct {
			name string
			list corev1.ResourceList
		}{{"requests", ctr.Resources.Requests}, {"limits", ctr.Resources.Limits}} {
			var missing []string
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := section.list[r]; !ok {
					missing = append(missing, string(r))
				}
			}
			if len(missing) > 0 {
				c.add(o.finding(path+".resources."+section.name, "missing %s", strings.Join(missing, ", ")))
			}
		}
		if probes && ctr.LivenessProbe == nil {
			c.add(o.finding(path+".livenessProbe", "missing"))
		}
		if probes && ctr.ReadinessProbe == nil {
			c.add(o.finding(path+".readinessProbe", "missing"))
		}
		// The container's own setting wins over the pod's.
		nonRoot := podNonRoot
		if sc := ctr.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if !nonRoot {
			c.add(o.finding(path+".securityContext.runAsNonRoot", "must be true (here or in the pod securityContext)"))
		}
		if msg := imageProblem(ctr.Image); msg != "" && ctr.Image != "" {
			c.add(o.finding(path+".image", "%s", msg))
		}
	}
}

// imageProblem says what is wrong with an image reference, or "".
// A digest pins the image; otherwise it needs a tag other than latest.
func imageProblem(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:] // a registry port also has a colon
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	}
	switch tag {
	case "":
		return fmt.Sprintf("image %q has no tag; pin a version", image)
	case "latest":
		return fmt.Sprintf("image %q uses :latest; pin a version", image)
	}
	return ""
}

// service checks that the selector picks a workload of this build in the
// same namespace and that every port reaches one of its container ports.
func (c *checker) service(o *object, svc *corev1.Service, objs []*object) {
	if len(svc.Spec.Selector) == 0 {
		return // ExternalName or hand-made Endpoints: nothing to match
	}
	var pods []*corev1.PodTemplateSpec
	for _, w := range objs {
		if t, _, _ := podTemplate(w.obj); t != nil && w.ns == o.ns && selects(svc.Spec.Selector, t.Labels) {
			pods = append(pods, t)
		}
	}
	if len(pods) == 0 {
		c.add(o.finding("spec.selector", "selects no workload's pod template in this build (%s)", labelString(svc.Spec.Selector)))
		return
	}
	for i, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // Kubernetes' default
		}
		if !anyContainerPort(pods, target) {
			c.add(o.finding(fmt.Sprintf("spec.ports[%d].targetPort", i), "%s matches no containerPort of the selected workloads", target.String()))
		}
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func anyContainerPort(pods []*corev1.PodTemplateSpec, target intstr.IntOrString) bool {
	for _, t := range pods {
		for _, ctr := range containers(t, "") {
			for _, cp := range ctr.Ports {
				if (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) ||
					(target.Type == intstr.String && cp.Name == target.StrVal) {
					return true
				}
			}
		}
	}
	return false
}

func labelString(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
