{{/*
The pod template of one service. Call with a dict:
  root        the top context ($)
  component   collector | sanitizer | writer | trainer | evaluator | server
  values      that service's values
  env         extra env entries (a YAML list as a string)
  volumes     extra volumes (a YAML list as a string)
  mounts      extra volume mounts (a YAML list as a string)
  configFiles the config files the service reads (list of names)
  onGpu       schedule on the GPU pool
  gpus        nvidia.com/gpu limit when onGpu
  image       an image other than tuneline/<component> (optional)
*/}}
{{- define "tuneline.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
metadata:
  labels:
    {{- include "tuneline.labels" $ctx | nindent 4 }}
  annotations:
    {{- with .configFiles }}
    checksum/config: {{ include "tuneline.configChecksum" (dict "root" $root "files" .) }}
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- if $root.Values.serviceAccounts.create }}
  serviceAccountName: {{ include "tuneline.serviceAccountName" $ctx }}
  {{- end }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- include "tuneline.podSecurityContext" $root | nindent 4 }}
  {{- include "tuneline.imagePullSecrets" $root | nindent 2 }}
  {{- include "tuneline.scheduling" (dict "root" $root "values" $v "onGpu" .onGpu) | nindent 2 }}
  terminationGracePeriodSeconds: {{ .terminationGracePeriodSeconds | default 60 }}
  containers:
    - name: {{ .component }}
      image: {{ .image | default (include "tuneline.image" $ctx) | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      securityContext:
        {{- include "tuneline.containerSecurityContext" $root | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ $v.port }}
          protocol: TCP
      env:
        {{- include "tuneline.sharedEnv" $root | nindent 8 }}
        {{- with .env }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- include "tuneline.probes" . | nindent 6 }}
      resources:
        {{- $resources := deepCopy ($v.resources | default dict) }}
        {{- if .onGpu }}
        {{- $limits := merge (dict "nvidia.com/gpu" (.gpus | default 1)) ($resources.limits | default dict) }}
        {{- $_ := set $resources "limits" $limits }}
        {{- end }}
        {{- toYaml $resources | nindent 8 }}
      volumeMounts:
        {{- include "tuneline.scratchMounts" $root | nindent 8 }}
        {{- include "tuneline.sharedSecretMounts" $root | nindent 8 }}
        {{- if .configFiles }}
        - name: config
          mountPath: /etc/tuneline
          readOnly: true
        {{- end }}
        {{- with .mounts }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- include "tuneline.scratchVolumes" $root | nindent 4 }}
    {{- include "tuneline.sharedSecretVolumes" $root | nindent 4 }}
    {{- with .configFiles }}
    {{- include "tuneline.configVolume" (dict "root" $root "files" .) | nindent 4 }}
    {{- end }}
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* A ClusterIP Service on the http port. */}}
{{- define "tuneline.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "tuneline.componentName" . }}
  labels:
    {{- include "tuneline.labels" . | nindent 4 }}
spec:
  type: {{ .type | default "ClusterIP" }}
  {{- if .headless }}
  clusterIP: None
  {{- end }}
  selector:
    {{- include "tuneline.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{/* A PodDisruptionBudget for a service. */}}
{{- define "tuneline.pdb" -}}
{{- if .values.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tuneline.componentName" . }}
  labels:
    {{- include "tuneline.labels" . | nindent 4 }}
spec:
  {{- if hasKey .values.pdb "minAvailable" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "tuneline.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
