{{- define "weft.provisioningName" -}}
{{- printf "%s-provisioning" (include "weft.fullname" .) -}}
{{- end -}}

{{/* Hook annotations; weight orders the hooks: ServiceAccount, ConfigMap, then the Job. */}}
{{- define "weft.provisioningHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{- define "weft.provisioningLabels" -}}
{{ include "weft.labels" . }}
app.kubernetes.io/component: provisioning
{{- end -}}

{{/* What each container of the Job needs besides its args. */}}
{{- define "weft.provisioningContainer" -}}
{{- $root := .root -}}
image: {{ include "weft.image" $root }}
imagePullPolicy: {{ $root.Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "weft.provisioningName" $root }}
{{- $env := concat (.env | default list) (include "weft.secretEnv" $root | fromYamlArray) $root.Values.provisioning.extraEnv }}
{{- with $env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
resources:
  {{- toYaml $root.Values.provisioning.resources | nindent 2 }}
securityContext:
  {{- toYaml $root.Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- with include "weft.kafkaTlsMount" $root | trim }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Env of one step of the Job beyond the shared one: the database URL for `outbox migrate`. */}}
{{- define "weft.provisioningStepEnv" -}}
{{- if eq .step "database" -}}
{{ include "weft.databaseEnv" .root }}
{{- end -}}
{{- end -}}
