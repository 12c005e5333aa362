{{/* Volumes, mounts and environment of the Ray pods (raycluster.yaml). */}}
{{- define "tuneline.rayVolumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 20Gi}
- name: cache
  emptyDir: {sizeLimit: 20Gi}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .k.shmSizeLimit }}
- name: work
  persistentVolumeClaim:
    claimName: {{ .claim }}
{{- with .k.authToken.existingSecret }}
- name: ray-auth
  secret:
    secretName: {{ . | quote }}
    defaultMode: 0440
{{- end }}
{{- if .root.Values.aws.credentialsSecret.name }}
- name: aws-credentials
  secret:
    secretName: {{ .root.Values.aws.credentialsSecret.name | quote }}
    defaultMode: 0440
{{- end }}
{{- end -}}
{{- define "tuneline.rayMounts" -}}
- name: tmp
  mountPath: /tmp
- name: cache
  mountPath: /var/cache/tuneline
- name: dshm
  mountPath: /dev/shm
- name: work
  mountPath: /var/lib/tuneline/runs
{{- include "tuneline.rayAuthMount" . }}
{{- if .Values.aws.credentialsSecret.name }}
- name: aws-credentials
  mountPath: {{ include "tuneline.secretDir" . }}/aws
  readOnly: true
{{- end }}
{{- end -}}
{{- define "tuneline.rayEnv" -}}
- name: TUNELINE_HOME
  value: /var/lib/tuneline
- name: TUNELINE_AWS_REGION
  value: {{ .Values.dynamodb.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.dynamodb.region | quote }}
{{- with .Values.aws.s3Endpoint }}
- name: TUNELINE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: XDG_CACHE_HOME
  value: /var/cache/tuneline
- name: HF_HOME
  value: /var/cache/tuneline/huggingface
- name: TORCH_EXTENSIONS_DIR
  value: /var/cache/tuneline/torch_extensions
- name: TRITON_CACHE_DIR
  value: /var/cache/tuneline/triton
- name: RAY_USAGE_STATS_ENABLED
  value: "0"
{{- include "tuneline.rayAuthEnv" . }}
{{- if .Values.aws.credentialsSecret.name }}
- name: AWS_SHARED_CREDENTIALS_FILE
  value: {{ printf "%s/aws/%s" (include "tuneline.secretDir" .) .Values.aws.credentialsSecret.key | quote }}
{{- end }}
{{- end -}}

{{/* Ray token authentication (training.kuberay.authToken): the Ray pods and the trainer, whose job is
their Ray Client, read the same token file. */}}
{{- define "tuneline.rayAuthEnv" -}}
{{- with .Values.training.kuberay.authToken.existingSecret }}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN_PATH
  value: {{ printf "%s/ray/%s" (include "tuneline.secretDir" $) $.Values.training.kuberay.authToken.key | quote }}
{{- end }}
{{- end -}}

{{- define "tuneline.rayAuthMount" -}}
{{- if .Values.training.kuberay.authToken.existingSecret }}
- name: ray-auth
  mountPath: {{ include "tuneline.secretDir" . }}/ray
  readOnly: true
{{- end }}
{{- end -}}
