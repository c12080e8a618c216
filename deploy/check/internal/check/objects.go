package check

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	networkingistiov1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingistiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	networkingistiov1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	securityistiov1 "istio.io/client-go/pkg/apis/security/v1"
	securityistiov1beta1 "istio.io/client-go/pkg/apis/security/v1beta1"
	telemetryistiov1 "istio.io/client-go/pkg/apis/telemetry/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	sigsjson "sigs.k8s.io/json"
)

// scheme maps apiVersion+kind to the Go type an object must decode into.
// A kind outside these groups is reported, so that a new kind is added
// here (one line) instead of being silently unchecked.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
		rbacv1.AddToScheme,
		networkingistiov1.AddToScheme, networkingistiov1beta1.AddToScheme, networkingistiov1alpha3.AddToScheme,
		securityistiov1.AddToScheme, securityistiov1beta1.AddToScheme, telemetryistiov1.AddToScheme,
		monitoringv1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}()

// object is one rendered Kubernetes object, decoded into its Go type.
type object struct {
	file string // source manifest, relative to the root
	id   string // Kind/name
	ns   string
	obj  runtime.Object
}

func (o *object) finding(field, format string, args ...any) Finding {
	return Finding{File: o.file, Object: o.id, Field: field, Message: fmt.Sprintf(format, args...)}
}

var strictFieldErr = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)

var structFieldErr = regexp.MustCompile(`Go struct field \w+\.(\S+) of type`)

// decodeErrorField finds the field a decode error is about: Kubernetes types
// name it, Istio's protobuf decoders do not (so it is somewhere in spec).
func decodeErrorField(obj runtime.Object, err error) string {
	if m := structFieldErr.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	if protoSpec(obj) != nil {
		return "spec"
	}
	return ""
}

// protoSpec returns the spec of an Istio object as a protobuf message, or nil.
func protoSpec(obj runtime.Object) proto.Message {
	v := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	if !v.IsValid() {
		return nil
	}
	msg, _ := v.Addr().Interface().(proto.Message)
	return msg
}

// decode decodes raw (one object as JSON) strictly into its typed struct and
// checks the fields that strict decoding cannot: required ones and PromQL.
// It returns nil when the object has no known type.
func (c *checker) decode(file string, raw []byte) *object {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &tm) // kustomize already required these to be well formed
	o := &object{file: file, id: tm.Kind + "/" + tm.Metadata.Name, ns: tm.Metadata.Namespace}
	gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	obj, err := scheme.New(gvk)
	if err != nil {
		c.add(o.finding("apiVersion", "no typed schema for %s %s; add it to the checker", tm.APIVersion, tm.Kind))
		return nil
	}
	// Like encoding/json, this decodes all it can past a bad value, so the
	// object is still checked (and a Service still finds its Deployment).
	strictErrs, err := sigsjson.UnmarshalStrict(raw, obj)
	if err != nil {
		c.add(o.finding(decodeErrorField(obj, err), "does not decode: %v", err))
	}
	for _, e := range strictErrs {
		if m := strictFieldErr.FindStringSubmatch(e.Error()); m != nil {
			c.add(o.finding(m[2], "%s field", m[1]))
		} else {
			c.add(o.finding("", "%v", e))
		}
	}
	o.obj = obj
	c.istioSpec(o, raw)
	if m, err := meta.Accessor(obj); err == nil && m.GetName() == "" {
		c.add(o.finding("metadata.name", "missing"))
	}
	c.required(o)
	return o
}

// istioSpec finds unknown fields in the spec of an Istio object, which
// Istio's own JSON decoders silently drop (a typo such as "routee" would
// vanish). It walks the JSON along the spec's protobuf descriptor rather than
// decoding with protojson, because protojson rejects values Istio accepts
// (durations such as "500ms"); values were already checked by the typed decode.
func (c *checker) istioSpec(o *object, raw []byte) {
	msg := protoSpec(o.obj)
	if msg == nil {
		return
	}
	var withSpec struct {
		Spec any `json:"spec"`
	}
	if json.Unmarshal(raw, &withSpec) != nil {
		return
	}
	for _, path := range unknownProtoFields(msg.ProtoReflect().Descriptor(), withSpec.Spec, "spec") {
		c.add(o.finding(path, "unknown field (not in %s)", msg.ProtoReflect().Descriptor().FullName()))
	}
}

// unknownProtoFields returns the paths of the keys in v (decoded JSON) that
// are not fields of md, by JSON name or proto name. Well-known types such as
// google.protobuf.Struct (free-form EnvoyFilter patches) are not descended.
func unknownProtoFields(md protoreflect.MessageDescriptor, v any, path string) []string {
	obj, ok := v.(map[string]any)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return nil
	}
	var unknown []string
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(key))
		}
		p := path + "." + key
		switch {
		case fd == nil:
			unknown = append(unknown, p)
		case fd.IsMap():
			if vd := fd.MapValue(); vd.Message() != nil {
				m, _ := obj[key].(map[string]any)
				for _, k := range slices.Sorted(maps.Keys(m)) {
					unknown = append(unknown, unknownProtoFields(vd.Message(), m[k], p+"["+k+"]")...)
				}
			}
		case fd.Message() != nil && fd.IsList():
			list, _ := obj[key].([]any)
			for i, e := range list {
				unknown = append(unknown, unknownProtoFields(fd.Message(), e, fmt.Sprintf("%s[%d]", p, i))...)
			}
		case fd.Message() != nil:
			unknown = append(unknown, unknownProtoFields(fd.Message(), obj[key], p)...)
		}
	}
	return unknown
}
