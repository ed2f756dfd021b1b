// Package kube holds the part of Kubernetes' core/v1 API that the function reads
// and writes: containers, volumes and what they are made of. Each type mirrors the
// k8s.io/api/core/v1 type of the same name, with the same JSON names, field order
// and omitempty rules, so a value marshals exactly as the upstream type would; only
// the fields the function uses are declared, and decoding ignores the others.
//
// The function does not link k8s.io/api itself: that package and the apimachinery
// it pulls in cost a run about 3 ms of start-up (15% of a no-op KRM function on the
// prometheus-community chart). kube_test.go checks every type here against
// k8s.io/api, field by field, and round-trips values through it.
package kube

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Container mirrors core/v1 Container.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image,omitempty"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	RestartPolicy   *string              `json:"restartPolicy,omitempty"`
	VolumeMounts    []VolumeMount        `json:"volumeMounts,omitempty"`
	ReadinessProbe  *Probe               `json:"readinessProbe,omitempty"`
	StartupProbe    *Probe               `json:"startupProbe,omitempty"`
	ImagePullPolicy PullPolicy           `json:"imagePullPolicy,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
}

// ContainerRestartPolicyAlways makes an init container a native sidecar.
const ContainerRestartPolicyAlways = "Always"

// PullPolicy mirrors core/v1 PullPolicy.
type PullPolicy string

const (
	PullAlways       PullPolicy = "Always"
	PullNever        PullPolicy = "Never"
	PullIfNotPresent PullPolicy = "IfNotPresent"
)

// ContainerPort mirrors core/v1 ContainerPort.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// ProtocolTCP is the TCP protocol of a port.
const ProtocolTCP = "TCP"

// EnvVar mirrors core/v1 EnvVar.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource mirrors core/v1 EnvVarSource.
type EnvVarSource struct {
	FieldRef         *ObjectFieldSelector   `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldSelector `json:"resourceFieldRef,omitempty"`
}

// ObjectFieldSelector mirrors core/v1 ObjectFieldSelector.
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ResourceFieldSelector mirrors core/v1 ResourceFieldSelector.
type ResourceFieldSelector struct {
	ContainerName string   `json:"containerName,omitempty"`
	Resource      string   `json:"resource"`
	Divisor       Quantity `json:"divisor,omitempty"`
}

// ResourceRequirements mirrors core/v1 ResourceRequirements.
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// ResourceList mirrors core/v1 ResourceList.
type ResourceList map[ResourceName]Quantity

// ResourceName mirrors core/v1 ResourceName.
type ResourceName string

const (
	ResourceCPU    ResourceName = "cpu"
	ResourceMemory ResourceName = "memory"
)

// Quantity is a resource quantity as written ("500m", "64Mi", "1"): it is checked
// against the grammar of apimachinery's resource.Quantity and kept as it was
// written instead of being canonicalised.
type Quantity string

// ParseQuantity checks s against resource.Quantity's grammar: a signed decimal
// number ([+-]?(digits[.digits]|.digits)) with an optional binary SI suffix
// (Ki..Ei), decimal SI suffix (n, u, m, k, M, G, T, P, E) or exponent (e3, E-3).
func ParseQuantity(s string) (Quantity, error) {
	if !validQuantity(s) {
		return "", fmt.Errorf("quantity %q is not valid: quantities are a number with an optional suffix (Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E, or an exponent such as e3)", s)
	}
	return Quantity(s), nil
}

func validQuantity(s string) bool {
	digits := func(s string) (int, string) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i, s[i:]
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	n, rest := digits(s)
	if rest != "" && rest[0] == '.' {
		var m int
		m, rest = digits(rest[1:])
		n += m
	}
	if n == 0 {
		return false
	}
	switch {
	case rest == "":
		return true
	case len(rest) == 2 && rest[1] == 'i':
		return strings.ContainsRune("KMGTPE", rune(rest[0]))
	case len(rest) == 1 && strings.ContainsRune("numkMGTPE", rune(rest[0])):
		return true
	case rest[0] == 'e' || rest[0] == 'E':
		exp := rest[1:]
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			exp = exp[1:]
		}
		n, tail := digits(exp)
		return n > 0 && tail == ""
	}
	return false
}

// MustParseQuantity is ParseQuantity for constants.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// UnmarshalJSON takes a string or a number, as resource.Quantity does.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if s == "null" {
		return nil
	}
	v, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// Probe mirrors core/v1 Probe.
type Probe struct {
	ProbeHandler        `json:",inline"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

// ProbeHandler mirrors core/v1 ProbeHandler.
type ProbeHandler struct {
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
}

// HTTPGetAction mirrors core/v1 HTTPGetAction.
type HTTPGetAction struct {
	Path string      `json:"path,omitempty"`
	Port IntOrString `json:"port"`
}

// IntOrString mirrors apimachinery's intstr.IntOrString: a port number or name.
type IntOrString struct {
	IsString bool
	IntVal   int32
	StrVal   string
}

// FromInt32 is a numeric IntOrString.
func FromInt32(v int32) IntOrString { return IntOrString{IntVal: v} }

// MarshalJSON writes a number or a string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.StrVal)
	}
	return []byte(strconv.FormatInt(int64(v.IntVal), 10)), nil
}

// UnmarshalJSON reads a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		return json.Unmarshal(b, &v.StrVal)
	}
	v.IsString = false
	return json.Unmarshal(b, &v.IntVal)
}

// SecurityContext mirrors core/v1 SecurityContext.
type SecurityContext struct {
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	Privileged               *bool           `json:"privileged,omitempty"`
	RunAsUser                *int64          `json:"runAsUser,omitempty"`
	RunAsGroup               *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
}

// Capabilities mirrors core/v1 Capabilities.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// SeccompProfile mirrors core/v1 SeccompProfile.
type SeccompProfile struct {
	Type string `json:"type"`
}

// SeccompProfileTypeRuntimeDefault is the container runtime's default profile.
const SeccompProfileTypeRuntimeDefault = "RuntimeDefault"

// VolumeMount mirrors core/v1 VolumeMount.
type VolumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
}

// Volume mirrors core/v1 Volume.
type Volume struct {
	Name         string `json:"name"`
	VolumeSource `json:",inline"`
}

// VolumeSource mirrors core/v1 VolumeSource.
type VolumeSource struct {
	EmptyDir    *EmptyDirVolumeSource    `json:"emptyDir,omitempty"`
	Secret      *SecretVolumeSource      `json:"secret,omitempty"`
	DownwardAPI *DownwardAPIVolumeSource `json:"downwardAPI,omitempty"`
	ConfigMap   *ConfigMapVolumeSource   `json:"configMap,omitempty"`
	Projected   *ProjectedVolumeSource   `json:"projected,omitempty"`
}

// EmptyDirVolumeSource mirrors core/v1 EmptyDirVolumeSource.
type EmptyDirVolumeSource struct {
	Medium string `json:"medium,omitempty"`
}

// StorageMediumMemory is a tmpfs emptyDir.
const StorageMediumMemory = "Memory"

// LocalObjectReference mirrors core/v1 LocalObjectReference.
type LocalObjectReference struct {
	Name string `json:"name,omitempty"`
}

// KeyToPath mirrors core/v1 KeyToPath.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
}

// ConfigMapVolumeSource mirrors core/v1 ConfigMapVolumeSource.
type ConfigMapVolumeSource struct {
	LocalObjectReference `json:",inline"`
	Items                []KeyToPath `json:"items,omitempty"`
	Optional             *bool       `json:"optional,omitempty"`
}

// SecretVolumeSource mirrors core/v1 SecretVolumeSource.
type SecretVolumeSource struct {
	SecretName string      `json:"secretName,omitempty"`
	Items      []KeyToPath `json:"items,omitempty"`
	Optional   *bool       `json:"optional,omitempty"`
}

// ProjectedVolumeSource mirrors core/v1 ProjectedVolumeSource.
type ProjectedVolumeSource struct {
	Sources []VolumeProjection `json:"sources"`
}

// VolumeProjection mirrors core/v1 VolumeProjection.
type VolumeProjection struct {
	Secret              *SecretProjection              `json:"secret,omitempty"`
	ConfigMap           *ConfigMapProjection           `json:"configMap,omitempty"`
	ServiceAccountToken *ServiceAccountTokenProjection `json:"serviceAccountToken,omitempty"`
}

// ConfigMapProjection mirrors core/v1 ConfigMapProjection.
type ConfigMapProjection struct {
	LocalObjectReference `json:",inline"`
	Items                []KeyToPath `json:"items,omitempty"`
	Optional             *bool       `json:"optional,omitempty"`
}

// SecretProjection mirrors core/v1 SecretProjection.
type SecretProjection struct {
	LocalObjectReference `json:",inline"`
	Items                []KeyToPath `json:"items,omitempty"`
	Optional             *bool       `json:"optional,omitempty"`
}

// ServiceAccountTokenProjection mirrors core/v1 ServiceAccountTokenProjection.
type ServiceAccountTokenProjection struct {
	Audience          string `json:"audience,omitempty"`
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	Path              string `json:"path"`
}

// DownwardAPIVolumeSource mirrors core/v1 DownwardAPIVolumeSource.
type DownwardAPIVolumeSource struct {
	Items []DownwardAPIVolumeFile `json:"items,omitempty"`
}

// DownwardAPIVolumeFile mirrors core/v1 DownwardAPIVolumeFile.
type DownwardAPIVolumeFile struct {
	Path     string               `json:"path"`
	FieldRef *ObjectFieldSelector `json:"fieldRef,omitempty"`
}
