{{/* Per-processor pieces shared by the processor templates. Called with
(dict "root" $ "name" <processor>). */}}

{{- define "weft.processorSelectorLabels" -}}
{{ include "weft.selectorLabels" .root }}
app.kubernetes.io/component: processor
weft/processor: {{ .name }}
{{- end -}}

{{- define "weft.processorLabels" -}}
{{ include "weft.labels" .root }}
app.kubernetes.io/component: processor
weft/processor: {{ .name }}
{{- end -}}

{{/* The processor's own settings as env (its ConfigMap's data). */}}
{{- define "weft.processorConfigData" -}}
{{- $p := include "weft.processorSettings" . | fromYaml -}}
WEFT_COMMIT_INTERVAL: {{ $p.commitInterval | quote }}
WEFT_MAX_BATCH: {{ $p.maxBatch | quote }}
WEFT_BREAKER_WINDOW: {{ $p.breaker.window | quote }}
WEFT_BREAKER_RATIO: {{ $p.breaker.ratio | quote }}
WEFT_BREAKER_MIN_SAMPLES: {{ $p.breaker.minSamples | quote }}
WEFT_MAX_CONSECUTIVE_ABORTS: {{ $p.maxConsecutiveAborts | quote }}
WEFT_FETCH_STALL_TIMEOUT: {{ $p.fetchStallTimeout | quote }}
WEFT_METRICS_LISTEN: {{ printf "0.0.0.0:%v" .root.Values.metrics.port | quote }}
WEFT_SINK_DIR: "/var/lib/weft/sinks"
WEFT_LOG: {{ $p.logLevel | quote }}
{{- if $p.autoRegisterSchemas }}
WEFT_SCHEMA_AUTO_REGISTER: "true"
{{- end }}
{{- with $p.replenish }}
WEFT_REPLENISH_DEFAULT_THRESHOLD: {{ .defaultThreshold | quote }}
{{- $items := list }}
{{- range $item, $n := .thresholds }}
{{- $items = append $items (printf "%s=%v" $item $n) }}
{{- end }}
WEFT_REPLENISH_THRESHOLDS: {{ join "," (sortAlpha $items) | quote }}
{{- end }}
{{- with $p.stockAlerts }}
WEFT_STOCK_WARNING: {{ .warning | quote }}
WEFT_STOCK_CRITICAL: {{ .critical | quote }}
{{- end }}
{{- end -}}
