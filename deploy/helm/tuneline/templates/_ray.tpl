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
{{- if .Values.aws.credentialsSecret.name }}
- name: AWS_SHARED_CREDENTIALS_FILE
  value: {{ printf "%s/aws/%s" (include "tuneline.secretDir" .) .Values.aws.credentialsSecret.key | quote }}
{{- end }}
{{- end -}}
