{{- define "weft.registrySelectorLabels" -}}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/component: registry
{{- end -}}

{{- define "weft.registryLabels" -}}
{{ include "weft.labels" . }}
app.kubernetes.io/component: registry
{{- end -}}

{{/* The registry's own settings (also used by the provisioning Job's registry sidecar). */}}
{{- define "weft.registryEnv" -}}
{{- $r := .root.Values.registry -}}
{{- $rf := int $r.replicationFactor -}}
{{- $max := int .root.Values.kafka.maxReplicationFactor -}}
{{- if and (gt $max 0) (gt $rf $max) -}}{{- $rf = $max -}}{{- end -}}
- name: WEFT_REGISTRY_LISTEN
  value: {{ .listen | quote }}
- name: WEFT_REGISTRY_STORE
  value: kafka
- name: WEFT_REGISTRY_TOPIC
  value: {{ $r.topic | quote }}
- name: WEFT_REGISTRY_REPLICATION_FACTOR
  value: {{ $rf | quote }}
- name: WEFT_REGISTRY_TIMEOUT
  value: {{ $r.timeout | quote }}
- name: WEFT_LOG
  value: {{ $r.logLevel | quote }}
{{- end -}}

{{- define "weft.registryUsersDir" -}}/etc/weft/registry-users{{- end -}}

{{/* With a users file every path but /metrics needs credentials, so the probes ask /metrics
(served by the same listener, which binds only once the store has read its topic). */}}
{{- define "weft.registryProbePath" -}}
{{- if .Values.registry.auth.usersSecret -}}/metrics{{- else -}}/{{- end -}}
{{- end -}}
