{{/* Names ------------------------------------------------------------------------------------- */}}

{{- define "tuneline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tuneline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>, e.g. "prod-tuneline-writer". Call with (dict "root" $ "component" "writer"). */}}
{{- define "tuneline.componentName" -}}
{{- printf "%s-%s" (include "tuneline.fullname" .root | trunc 45 | trimSuffix "-") .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tuneline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "tuneline.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tuneline
{{- end -}}

{{- define "tuneline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tuneline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every pod of the release carries these two: the NetworkPolicies select on them. */}}
{{- define "tuneline.releaseSelector" -}}
app.kubernetes.io/name: {{ include "tuneline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tuneline.serviceAccountName" -}}
{{- include "tuneline.componentName" . -}}
{{- end -}}

{{/* A name inside TUNELINE_NAMESPACE, as libs.schemas.names.namespaced builds it. */}}
{{- define "tuneline.namespaced" -}}
{{- if .root.Values.namespace -}}{{ printf "%s.%s" .root.Values.namespace .name }}{{- else -}}{{ .name }}{{- end -}}
{{- end -}}

{{- define "tuneline.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s/%s" $img.repositoryPrefix .component -}}
{{- if $img.registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo -}}{{- end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Secret file paths ------------------------------------------------------------------------- */}}
{{- define "tuneline.secretDir" -}}/var/run/secrets/tuneline{{- end -}}

{{/* Shared environment (libs/common/settings.py): every service gets it. ------------------------ */}}
{{- define "tuneline.sharedEnv" -}}
{{- $v := .Values -}}
{{- $dir := include "tuneline.secretDir" . -}}
- name: TUNELINE_NAMESPACE
  value: {{ $v.namespace | quote }}
- name: TUNELINE_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: TUNELINE_KAFKA_WAIT_S
  value: {{ $v.kafka.waitSeconds | quote }}
- name: TUNELINE_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: TUNELINE_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.sasl.mechanism is required with a SASL_* kafka.securityProtocol" $v.kafka.sasl.mechanism | quote }}
{{- if eq $v.kafka.sasl.mechanism "OAUTHBEARER" }}
- name: TUNELINE_KAFKA_OAUTH_TOKEN_URL
  value: {{ required "kafka.sasl.oauth.tokenUrl is required with OAUTHBEARER" $v.kafka.sasl.oauth.tokenUrl | quote }}
- name: TUNELINE_KAFKA_OAUTH_CLIENT_ID
  value: {{ required "kafka.sasl.oauth.clientId is required with OAUTHBEARER" $v.kafka.sasl.oauth.clientId | quote }}
{{- with $v.kafka.sasl.oauth.scope }}
- name: TUNELINE_KAFKA_OAUTH_SCOPE
  value: {{ . | quote }}
{{- end }}
- name: TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE
  value: {{ printf "%s/kafka-sasl/%s" $dir $v.kafka.sasl.oauth.clientSecretKey | quote }}
{{- else }}
{{- if $v.kafka.sasl.usernameKey }}
- name: TUNELINE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret | quote }}
      key: {{ $v.kafka.sasl.usernameKey | quote }}
{{- else }}
- name: TUNELINE_KAFKA_SASL_USERNAME
  value: {{ required "kafka.sasl.username (or kafka.sasl.usernameKey) is required with SASL PLAIN/SCRAM" $v.kafka.sasl.username | quote }}
{{- end }}
- name: TUNELINE_KAFKA_SASL_PASSWORD_FILE
  value: {{ printf "%s/kafka-sasl/%s" $dir $v.kafka.sasl.passwordKey | quote }}
{{- end }}
{{- end }}
{{- if has $v.kafka.securityProtocol (list "SSL" "SASL_SSL") }}
- name: TUNELINE_KAFKA_SSL_VERIFY_HOSTNAME
  value: {{ $v.kafka.tls.verifyHostname | quote }}
{{- if $v.kafka.tls.existingSecret }}
{{- with $v.kafka.tls.caKey }}
- name: TUNELINE_KAFKA_SSL_CA_FILE
  value: {{ printf "%s/kafka-tls/%s" $dir . | quote }}
{{- end }}
{{- if $v.kafka.tls.certKey }}
- name: TUNELINE_KAFKA_SSL_CERT_FILE
  value: {{ printf "%s/kafka-tls/%s" $dir $v.kafka.tls.certKey | quote }}
- name: TUNELINE_KAFKA_SSL_KEY_FILE
  value: {{ printf "%s/kafka-tls/%s" $dir (required "kafka.tls.keyKey goes with kafka.tls.certKey" $v.kafka.tls.keyKey) | quote }}
{{- end }}
{{- with $v.kafka.tls.keyPasswordKey }}
- name: TUNELINE_KAFKA_SSL_KEY_PASSWORD_FILE
  value: {{ printf "%s/kafka-tls/%s" $dir . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.dynamodb.endpoint }}
- name: TUNELINE_DYNAMODB_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: TUNELINE_AWS_REGION
  value: {{ $v.dynamodb.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ $v.dynamodb.region | quote }}
- name: TUNELINE_TABLE_PREFIX
  value: {{ $v.dynamodb.tablePrefix | quote }}
- name: TUNELINE_INDEX_SHARDS
  value: {{ $v.dynamodb.indexShards | quote }}
{{- with $v.aws.s3Endpoint }}
- name: TUNELINE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if $v.aws.credentialsSecret.name }}
- name: AWS_SHARED_CREDENTIALS_FILE
  value: {{ printf "%s/aws/%s" $dir $v.aws.credentialsSecret.key | quote }}
{{- end }}
- name: TUNELINE_LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: TUNELINE_LOG_FORMAT
  value: {{ $v.log.format | quote }}
- name: TUNELINE_HOME
  value: /var/lib/tuneline
{{- with $v.cacheDir }}
- name: TUNELINE_CACHE_DIR
  value: {{ . | quote }}
{{- end }}
# Library caches on a writable volume: the root filesystem is read-only.
- name: XDG_CACHE_HOME
  value: /var/cache/tuneline
- name: HF_HOME
  value: /var/cache/tuneline/huggingface
- name: MPLCONFIGDIR
  value: /var/cache/tuneline/matplotlib
- name: TORCH_EXTENSIONS_DIR
  value: /var/cache/tuneline/torch_extensions
- name: TRITON_CACHE_DIR
  value: /var/cache/tuneline/triton
- name: TMPDIR
  value: /tmp
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Kafka and AWS secret volumes and their mounts, present only when the values reference them. */}}
{{- define "tuneline.sharedSecretVolumes" -}}
{{- $v := .Values -}}
{{- if and (hasPrefix "SASL_" $v.kafka.securityProtocol) (not $v.kafka.sasl.existingSecret) }}
{{- fail "kafka.sasl.existingSecret is required with a SASL_* kafka.securityProtocol (the password or client secret)" }}
{{- end }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: kafka-sasl
  secret:
    secretName: {{ $v.kafka.sasl.existingSecret | quote }}
    defaultMode: 0440
{{- end }}
{{- if and (has $v.kafka.securityProtocol (list "SSL" "SASL_SSL")) $v.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $v.kafka.tls.existingSecret | quote }}
    defaultMode: 0440
{{- end }}
{{- if $v.aws.credentialsSecret.name }}
- name: aws-credentials
  secret:
    secretName: {{ $v.aws.credentialsSecret.name | quote }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "tuneline.sharedSecretMounts" -}}
{{- $v := .Values -}}
{{- $dir := include "tuneline.secretDir" . -}}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: kafka-sasl
  mountPath: {{ $dir }}/kafka-sasl
  readOnly: true
{{- end }}
{{- if and (has $v.kafka.securityProtocol (list "SSL" "SASL_SSL")) $v.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ $dir }}/kafka-tls
  readOnly: true
{{- end }}
{{- if $v.aws.credentialsSecret.name }}
- name: aws-credentials
  mountPath: {{ $dir }}/aws
  readOnly: true
{{- end }}
{{- end -}}

{{/* Writable scratch every pod gets: /tmp and the library caches (the root filesystem is read-only). */}}
{{- define "tuneline.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 2Gi
- name: cache
  emptyDir:
    sizeLimit: 10Gi
{{- if .Values.cacheDir }}
- name: tuneline-cache
  emptyDir:
    sizeLimit: 10Gi
{{- end }}
{{- end -}}

{{- define "tuneline.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: cache
  mountPath: /var/cache/tuneline
{{- with .Values.cacheDir }}
- name: tuneline-cache
  mountPath: {{ . }}
{{- end }}
{{- end -}}

{{/* The config volume: the ConfigMaps named in .files, projected into /etc/tuneline. */}}
{{- define "tuneline.configVolume" -}}
- name: config
  projected:
    defaultMode: 0444
    sources:
{{- range .files }}
      - configMap:
          name: {{ include "tuneline.componentName" (dict "root" $.root "component" (printf "config-%s" .)) }}
          items:
            - key: {{ . }}.yaml
              path: {{ . }}.yaml
{{- end }}
{{- end -}}

{{/* The YAML of config/<name>.yaml: the chart's copy with .Values.config.<name> merged over it. */}}
{{- define "tuneline.configFile" -}}
{{- $defaults := .root.Files.Get (printf "files/config/%s.yaml" .name) | fromYaml -}}
{{- $overrides := index .root.Values.config .name | default dict -}}
{{- mergeOverwrite (deepCopy $defaults) (deepCopy $overrides) | toYaml -}}
{{- end -}}

{{/* Hash of the config files a pod reads: a change rolls the pods. */}}
{{- define "tuneline.configChecksum" -}}
{{- $out := list -}}
{{- range .files -}}
{{- $out = append $out (include "tuneline.configFile" (dict "root" $.root "name" .)) -}}
{{- end -}}
{{- join "\n---\n" $out | sha256sum -}}
{{- end -}}

{{- define "tuneline.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "tuneline.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "tuneline.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* HTTP probes on the service's ops port: /healthz (liveness), /readyz (readiness). */}}
{{- define "tuneline.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: {{ .startupFailures | default 60 }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 4
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* Scheduling: the service's nodeSelector/tolerations/affinity, or the GPU pool's when onGpu. */}}
{{- define "tuneline.scheduling" -}}
{{- $nodeSelector := .values.nodeSelector | default dict -}}
{{- $tolerations := .values.tolerations | default list -}}
{{- if .onGpu -}}
{{- $nodeSelector = merge (deepCopy $nodeSelector) .root.Values.training.gpuPool.nodeSelector -}}
{{- $tolerations = concat $tolerations .root.Values.training.gpuPool.tolerations -}}
{{- end -}}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Ray head's client address (Ray Client, port 10001). */}}
{{- define "tuneline.rayAddress" -}}
{{- printf "ray://%s-head-svc.%s.svc:10001" (include "tuneline.componentName" (dict "root" . "component" "ray")) .Release.Namespace -}}
{{- end -}}

{{- define "tuneline.modelStoreUri" -}}
{{- default "/var/lib/tuneline/models" .Values.modelStore.uri -}}
{{- end -}}

{{/* The model store volume (and its mount) when the store is a folder, not s3://. */}}
{{- define "tuneline.modelStoreVolume" -}}
{{- if not .Values.modelStore.uri }}
- name: models
  persistentVolumeClaim:
    claimName: {{ default (include "tuneline.componentName" (dict "root" . "component" "models")) .Values.modelStore.volume.existingClaim }}
{{- end }}
{{- end -}}

{{- define "tuneline.modelStoreMount" -}}
{{- if not .Values.modelStore.uri }}
- name: models
  mountPath: /var/lib/tuneline/models
{{- end }}
{{- end -}}

{{/* The trainer's image; training.gpuImage where training runs on the GPU pool (the Ray pods; the trainer
pod itself with training.job.onGpuPool). */}}
{{- define "tuneline.trainingImage" -}}
{{- if and .gpu .root.Values.training.gpuImage -}}
{{- .root.Values.training.gpuImage -}}
{{- else -}}
{{- include "tuneline.image" (dict "root" .root "component" "trainer") -}}
{{- end -}}
{{- end -}}
