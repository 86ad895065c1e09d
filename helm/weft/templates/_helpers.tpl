{{/*
Helpers of the weft chart. Names, labels, the per-processor settings (defaults merged with the
processor's overrides), the Kafka/registry environment, and the render-time checks (weft.validate).
*/}}

{{- define "weft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* `<release>-<chart>`, or the release name when it already contains the chart name. */}}
{{- define "weft.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "weft.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Immutable selector labels (never add a value that can change between upgrades). */}}
{{- define "weft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "weft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weft.labels" -}}
helm.sh/chart: {{ include "weft.chart" . }}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: weft
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "weft.annotations" -}}
{{- with .Values.commonAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Resource name of a processor: `<fullname>-<processor with dots as dashes>`. Pods of the
StatefulSet get `-<ordinal>` and the controller-revision-hash label `<name>-<hash>` must stay within
63 characters, so the name may have 52 at most; a longer one fails instead of being truncated
(truncation could make two processors collide). */}}
{{- define "weft.processorResourceName" -}}
{{- $name := printf "%s-%s" (include "weft.fullname" .root) (replace "." "-" .name) -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "the resource name %q of processor %s is longer than 52 characters: use a shorter release name or set fullnameOverride" $name .name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "weft.registryName" -}}
{{- printf "%s-registry" (include "weft.fullname" .) -}}
{{- end -}}

{{- define "weft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "weft.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "weft.image" -}}
{{- $repo := required "image.repository is required: the weft image built from the repository's Dockerfile, e.g. registry.example.com/platform/weft" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The generated topology (processors, topics, SLAs, subjects) as a dict. */}}
{{- define "weft.topologyYaml" -}}
{{- .Files.Get "files/topology.yaml" -}}
{{- end -}}

{{/* Settings of one processor: processorDefaults deep-merged with processors.<name> (YAML); a
processor without an entry gets processorDefaults alone.
An explicit merge rather than sprig's mergeOverwrite, whose handling of false, 0 and "" in the
override has changed with mergo versions: `processors.<name>.pdb.enabled: false` must win. */}}
{{- define "weft.processorSettings" -}}
{{- $merged := deepCopy .root.Values.processorDefaults -}}
{{- include "weft.mergeInto" (dict "dst" $merged "src" (index (.root.Values.processors | default dict) .name | default dict)) -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* Merges map .src into map .dst in place: nested maps key by key, anything else replaced. */}}
{{- define "weft.mergeInto" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) -}}
{{- include "weft.mergeInto" (dict "dst" (index $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Names of the enabled processors, sorted, as a YAML list: every processor of
files/topology.yaml unless processors.<name>.enabled is false (no entry, or an entry without
`enabled`, means enabled: a new processor needs no values edit). */}}
{{- define "weft.enabledProcessors" -}}
{{- $topology := include "weft.topologyYaml" . | fromYaml -}}
{{- $given := .Values.processors | default dict -}}
{{- $names := list -}}
{{- range $name, $_ := $topology.processors -}}
{{- $p := index $given $name | default dict -}}
{{- if or (not (hasKey $p "enabled")) $p.enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml (sortAlpha $names) -}}
{{- end -}}

{{/* A duration `<n>ms|s|m|h` as milliseconds (the schema restricts durations to these forms). */}}
{{- define "weft.durationMs" -}}
{{- $d := toString . -}}
{{- $n := regexFind "^[0-9]+" $d | int64 -}}
{{- $unit := regexReplaceAll "^[0-9]+" $d "" -}}
{{- if eq $unit "ms" -}}{{ $n }}
{{- else if eq $unit "s" -}}{{ mul $n 1000 }}
{{- else if eq $unit "m" -}}{{ mul $n 60000 }}
{{- else if eq $unit "h" -}}{{ mul $n 3600000 }}
{{- else -}}{{ fail (printf "%q is not a duration of the form <n>ms, <n>s, <n>m or <n>h" $d) }}
{{- end -}}
{{- end -}}

{{/* What the grace period allows per transactional call of a shutdown (sending the offsets,
committing): the runtime waits TXN_CALL_TIMEOUT (10 s, weft-runtime txn_loop.rs) per attempt and
retries, so 30 s leaves room for three attempts. */}}
{{- define "weft.txnCallTimeoutSeconds" -}}30{{- end -}}

{{/* Smallest termination grace of a processor: commit interval + 2 x call timeout + 5 s. */}}
{{- define "weft.minGraceSeconds" -}}
{{- $ms := include "weft.durationMs" .commitInterval | int64 -}}
{{- $commit := div (add $ms 999) 1000 -}}
{{- add $commit (mul 2 (include "weft.txnCallTimeoutSeconds" . | int64)) 5 -}}
{{- end -}}

{{- define "weft.securityProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if $k.securityProtocol -}}{{ $k.securityProtocol }}
{{- else if and $k.sasl.enabled $k.tls.enabled -}}sasl_ssl
{{- else if $k.sasl.enabled -}}sasl_plaintext
{{- else if $k.tls.enabled -}}ssl
{{- end -}}
{{- end -}}

{{- define "weft.registryUrl" -}}
{{- if .Values.registry.enabled -}}
{{- printf "http://%s.%s.svc:%v" (include "weft.registryName" .) .Release.Namespace .Values.registry.service.port -}}
{{- else -}}
{{- required "registry.externalUrl is required when registry.enabled is false" .Values.registry.externalUrl -}}
{{- end -}}
{{- end -}}

{{- define "weft.kafkaTlsDir" -}}/etc/weft/kafka-tls{{- end -}}

{{/* The Kafka client settings every weft command reads (no secrets: those come as env from
secretKeyRef, see weft.secretEnv). Rendered into the ConfigMaps. */}}
{{- define "weft.kafkaConfig" -}}
{{- $k := .Values.kafka -}}
WEFT_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required: the Kafka bootstrap servers, e.g. my-kafka-bootstrap:9092" $k.bootstrapServers | quote }}
{{- with include "weft.securityProtocol" . }}
WEFT_SECURITY_PROTOCOL: {{ . | quote }}
{{- end }}
{{- if $k.sasl.enabled }}
WEFT_SASL_MECHANISM: {{ $k.sasl.mechanism | quote }}
{{- end }}
{{- if and $k.tls.enabled $k.tls.existingSecret }}
WEFT_SSL_CA_LOCATION: {{ printf "%s/%s" (include "weft.kafkaTlsDir" .) $k.tls.caKey | quote }}
{{- if $k.tls.certKey }}
WEFT_SSL_CERTIFICATE_LOCATION: {{ printf "%s/%s" (include "weft.kafkaTlsDir" .) $k.tls.certKey | quote }}
WEFT_SSL_KEY_LOCATION: {{ printf "%s/%s" (include "weft.kafkaTlsDir" .) $k.tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- with $k.options }}
{{- $opts := list }}
{{- range $key, $value := . }}
{{- $opts = append $opts (printf "%s=%v" $key $value) }}
{{- end }}
WEFT_KAFKA_OPTIONS: {{ join "," (sortAlpha $opts) | quote }}
{{- end }}
{{- end -}}

{{/* Env entries read from existing Secrets: SASL and registry credentials. Every weft container
gets them: the processors, the outbox relay, the provisioning Job, the helm test, the registry. */}}
{{- define "weft.secretEnv" -}}
{{- $k := .Values.kafka -}}
{{- if $k.sasl.enabled }}
- name: WEFT_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret }}
      key: {{ $k.sasl.usernameKey }}
- name: WEFT_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret }}
      key: {{ $k.sasl.passwordKey }}
{{- end }}
{{- with .Values.registry.auth.existingSecret }}
- name: WEFT_REGISTRY_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.registry.auth.usernameKey }}
- name: WEFT_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.registry.auth.passwordKey }}
{{- end }}
{{- end -}}

{{/* Hash of which Secrets and keys the pods read: changing them rolls the pods. (The content of a
Secret outside the chart cannot be hashed at render time; see processorDefaults.podAnnotations.) */}}
{{- define "weft.secretRefsChecksum" -}}
{{- $k := .Values.kafka -}}
{{- list $k.sasl $k.tls .Values.registry.auth | toJson | sha256sum -}}
{{- end -}}

{{- define "weft.kafkaTlsVolume" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "weft.kafkaTlsMount" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "weft.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "weft.priorityClassName" -}}
{{- if .own -}}{{ .own }}
{{- else if and .root.Values.priorityClass.create .root.Values.priorityClass.name -}}{{ .root.Values.priorityClass.name }}
{{- end -}}
{{- end -}}

{{/* Default scheduling: spread over zones and nodes, prefer other nodes (all soft). */}}
{{- define "weft.spread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- toYaml .selector | nindent 6 }}
{{- end -}}

{{- define "weft.softAntiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- toYaml .selector | nindent 12 }}
{{- end -}}

{{/* Whether an API is served (a real cluster's discovery, or helm template --api-versions). */}}
{{- define "weft.hasApi" -}}
{{- if or (.root.Capabilities.APIVersions.Has .gvk) (.root.Capabilities.APIVersions.Has .gv) -}}true{{- end -}}
{{- end -}}

{{- define "weft.hasMonitoringApi" -}}
{{- include "weft.hasApi" (dict "root" . "gv" "monitoring.coreos.com/v1" "gvk" "monitoring.coreos.com/v1/ServiceMonitor") -}}
{{- end -}}
{{- define "weft.hasPrometheusRuleApi" -}}
{{- include "weft.hasApi" (dict "root" . "gv" "monitoring.coreos.com/v1" "gvk" "monitoring.coreos.com/v1/PrometheusRule") -}}
{{- end -}}
{{- define "weft.hasKedaApi" -}}
{{- include "weft.hasApi" (dict "root" . "gv" "keda.sh/v1alpha1" "gvk" "keda.sh/v1alpha1/ScaledObject") -}}
{{- end -}}
{{- define "weft.hasExternalMetricsApi" -}}
{{- include "weft.hasApi" (dict "root" . "gv" "external.metrics.k8s.io/v1beta1" "gvk" "external.metrics.k8s.io/v1beta1/ExternalMetricValueList") -}}
{{- end -}}

{{/* KEDA's name of the SASL mechanism. */}}
{{- define "weft.kedaSasl" -}}
{{- $m := upper .Values.kafka.sasl.mechanism -}}
{{- $map := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" -}}
{{- if not (hasKey $map $m) -}}
{{- fail (printf "autoscaling.mode keda supports kafka.sasl.mechanism PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, not %s (use autoscaling.mode hpa)" $m) -}}
{{- end -}}
{{- get $map $m -}}
{{- end -}}

{{/* The autoscaler actually rendered: keda, hpa, or "" (mode none, or its API missing). */}}
{{- define "weft.activeAutoscaler" -}}
{{- if and (eq .Values.autoscaling.mode "keda") (include "weft.hasKedaApi" .) -}}keda
{{- else if and (eq .Values.autoscaling.mode "hpa") (include "weft.hasExternalMetricsApi" .) -}}hpa
{{- end -}}
{{- end -}}

{{/* Every render-time check; fails with a message naming the value. */}}
{{- define "weft.validate" -}}
{{- $topology := include "weft.topologyYaml" . | fromYaml -}}
{{- $_ := include "weft.image" . -}}
{{- $_ := include "weft.kafkaConfig" . -}}
{{- $_ := include "weft.registryUrl" . -}}
{{- /* An entry under processors is optional (a processor without one runs with processorDefaults);
an entry for a processor the release does not have is refused. */ -}}
{{- range $name, $p := .Values.processors | default dict -}}
{{- if not (hasKey $topology.processors $name) -}}
{{- fail (printf "processors.%s: no such processor in this weft release (files/topology.yaml lists %s)" $name (keys $topology.processors | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- $enabled := include "weft.enabledProcessors" . | fromYamlArray -}}
{{- if not $enabled -}}
{{- fail "no processor is enabled: every processor of files/topology.yaml has processors.<name>.enabled false; leave at least one enabled" -}}
{{- end -}}
{{- range $name := $enabled -}}
{{- $p := include "weft.processorSettings" (dict "root" $ "name" $name) | fromYaml -}}
{{- $t := index $topology.processors $name -}}
{{- $_ := include "weft.processorResourceName" (dict "root" $ "name" $name) -}}
{{- $cap := int $t.maxReplicas -}}
{{- if gt (int $p.replicas) $cap -}}
{{- fail (printf "processors.%s.replicas is %v but its inputs (%s) have at most %d partitions: a replica beyond %d would never be assigned a partition; lower replicas" $name $p.replicas (join ", " $t.inputs) $cap $cap) -}}
{{- end -}}
{{- if ne $.Values.autoscaling.mode "none" -}}
{{- $max := $p.scaling.maxReplicas | default $cap | int -}}
{{- if gt $max $cap -}}
{{- fail (printf "processors.%s.scaling.maxReplicas is %d but its inputs (%s) have at most %d partitions; lower it" $name $max (join ", " $t.inputs) $cap) -}}
{{- end -}}
{{- if gt (int $p.scaling.minReplicas) $max -}}
{{- fail (printf "processors.%s.scaling.minReplicas (%v) is above its maxReplicas (%d)" $name $p.scaling.minReplicas $max) -}}
{{- end -}}
{{- end -}}
{{- $min := include "weft.minGraceSeconds" $p | int -}}
{{- if and (not (kindIs "invalid" $p.terminationGracePeriodSeconds)) (lt (int $p.terminationGracePeriodSeconds) $min) -}}
{{- fail (printf "processors.%s.terminationGracePeriodSeconds is %v, below commitInterval %s + 2 x %ss (offsets and commit on SIGTERM) + 5s = %ds" $name $p.terminationGracePeriodSeconds $p.commitInterval (include "weft.txnCallTimeoutSeconds" $) $min) -}}
{{- end -}}
{{- end -}}
{{- $v := index (.Values.processors | default dict) "viscount.inventory-service" -}}
{{- if and $v $v.stockAlerts (ge (int $v.stockAlerts.critical) (int $v.stockAlerts.warning)) -}}
{{- fail (printf "processors.viscount.inventory-service.stockAlerts.critical (%v) must be below warning (%v)" $v.stockAlerts.critical $v.stockAlerts.warning) -}}
{{- end -}}
{{- $k := .Values.kafka -}}
{{- if and $k.sasl.enabled (not $k.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret is required when kafka.sasl.enabled: the Secret holding the SASL username and password" -}}
{{- end -}}
{{- if and $k.tls.enabled (or $k.tls.certKey $k.tls.keyKey) (not (and $k.tls.certKey $k.tls.keyKey $k.tls.existingSecret)) -}}
{{- fail "kafka.tls: mutual TLS needs existingSecret, certKey and keyKey together" -}}
{{- end -}}
{{- range $key, $value := $k.options -}}
{{- if contains "," (toString $value) -}}
{{- fail (printf "kafka.options.%s: a value cannot contain a comma (WEFT_KAFKA_OPTIONS is comma-separated)" $key) -}}
{{- end -}}
{{- end -}}
{{- range $e := concat .Values.provisioning.extraEnv .Values.processorDefaults.extraEnv -}}
{{- if eq $e.name "WEFT_ALLOW_DELETE" -}}
{{- fail "WEFT_ALLOW_DELETE is refused: the chart never deletes topics (run `weft topics apply --allow-delete` by hand if you must)" -}}
{{- end -}}
{{- end -}}
{{- $ra := .Values.registry.auth -}}
{{- if $ra.usersSecret -}}
{{- if not .Values.registry.enabled -}}
{{- fail "registry.auth.usersSecret is the built-in registry's users file, but registry.enabled is false: remove it (registry.auth.existingSecret holds the credentials for an external registry)" -}}
{{- end -}}
{{- if not $ra.existingSecret -}}
{{- fail "registry.auth.existingSecret is required with registry.auth.usersSecret: the processors and the helm test authenticate to the registry with it (a user of the users file; role read is enough)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.priorityClass.create (not .Values.priorityClass.name) -}}
{{- fail "priorityClass.name is required when priorityClass.create is true" -}}
{{- end -}}
{{- /* The database: its URL only from an existing Secret. */ -}}
{{- if and (include "weft.usesDatabase" .) (not .Values.database.existingSecret) -}}
{{- fail "database.existingSecret is required with outbox.enabled or a processor's sinkDatabase: the Secret holding the PostgreSQL URL (under database.urlKey)" -}}
{{- end -}}
{{- $envLists := dict "outbox.extraEnv" .Values.outbox.extraEnv "provisioning.extraEnv" .Values.provisioning.extraEnv "processorDefaults.extraEnv" .Values.processorDefaults.extraEnv "registry.extraEnv" .Values.registry.extraEnv -}}
{{- range $name, $p := .Values.processors | default dict -}}
{{- with ($p | default dict).extraEnv -}}
{{- $_ := set $envLists (printf "processors.%s.extraEnv" $name) . -}}
{{- end -}}
{{- end -}}
{{- range $where, $list := $envLists -}}
{{- range $e := $list -}}
{{- if and (has $e.name (list "WEFT_DATABASE_URL" "DATABASE_URL")) (hasKey $e "value") -}}
{{- fail (printf "%s: %s as a plain value is refused (the URL holds the database password): set database.existingSecret, whose URL the relay, the sinks with sinkDatabase and the provisioning Job get through secretKeyRef" $where $e.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
