{{/* The transactional outbox relay (`weft outbox relay`) and the database it shares with the sink
processors. */}}

{{- define "weft.outboxRelayName" -}}
{{- printf "%s-outbox-relay" (include "weft.fullname" .) -}}
{{- end -}}

{{- define "weft.outboxRelaySelectorLabels" -}}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/component: outbox-relay
{{- end -}}

{{- define "weft.outboxRelayLabels" -}}
{{ include "weft.labels" . }}
app.kubernetes.io/component: outbox-relay
{{- end -}}

{{/* The relay's own settings as env (its ConfigMap's data). The database URL is not among them:
it comes from database.existingSecret (weft.databaseEnv). */}}
{{- define "weft.outboxRelayConfigData" -}}
{{- $o := .Values.outbox -}}
WEFT_OUTBOX_BATCH_SIZE: {{ $o.batchSize | quote }}
WEFT_OUTBOX_INTERVAL: {{ $o.interval | quote }}
WEFT_OUTBOX_MAX_RETRIES: {{ $o.maxRetries | quote }}
WEFT_OUTBOX_RETRY_BACKOFF: {{ $o.retryBackoff | quote }}
WEFT_OUTBOX_BREAKER_THRESHOLD: {{ $o.breaker.threshold | quote }}
WEFT_OUTBOX_BREAKER_TIMEOUT: {{ $o.breaker.timeout | quote }}
WEFT_OUTBOX_RETENTION: {{ $o.retention | quote }}
{{- with $o.system }}
WEFT_OUTBOX_SYSTEM: {{ . | quote }}
{{- end }}
WEFT_METRICS_LISTEN: {{ printf "0.0.0.0:%v" .Values.metrics.port | quote }}
WEFT_LOG: {{ $o.logLevel | quote }}
{{- if $o.autoRegisterSchemas }}
WEFT_SCHEMA_AUTO_REGISTER: "true"
{{- end }}
{{- end -}}

{{/* WEFT_DATABASE_URL from database.existingSecret, as an env list entry. */}}
{{- define "weft.databaseEnv" -}}
- name: WEFT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: the Secret holding the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end -}}

{{/* Whether anything of the release uses the database: the relay, or an enabled processor with
sinkDatabase. */}}
{{- define "weft.usesDatabase" -}}
{{- $uses := .Values.outbox.enabled -}}
{{- range $name := include "weft.enabledProcessors" . | fromYamlArray -}}
{{- $p := include "weft.processorSettings" (dict "root" $ "name" $name) | fromYaml -}}
{{- if $p.sinkDatabase -}}{{- $uses = true -}}{{- end -}}
{{- end -}}
{{- if $uses -}}true{{- end -}}
{{- end -}}
