{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "soc2-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, followed by the chart name unless the release name already contains it.
*/}}
{{- define "soc2-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "soc2-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "soc2-operator.labels" -}}
helm.sh/chart: {{ include "soc2-operator.chart" . }}
{{ include "soc2-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: soc2-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "soc2-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "soc2-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "soc2-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "soc2-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository, then @digest when set, else :tag (default: the chart's appVersion).
*/}}
{{- define "soc2-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Whether leader election is on: "true" or "" (empty is false in templates). "auto" means replicaCount > 1.
*/}}
{{- define "soc2-operator.leaderElection" -}}
{{- $setting := .Values.leaderElection.enabled | toString }}
{{- if eq $setting "auto" }}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- else if eq $setting "true" }}true
{{- end }}
{{- end }}

{{/*
The ServiceAccount as an RBAC subject.
*/}}
{{- define "soc2-operator.subject" -}}
- kind: ServiceAccount
  name: {{ include "soc2-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/*
The kubernetes.io/tls Secret the webhook serves from.
*/}}
{{- define "soc2-operator.webhookSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "soc2-operator.fullname" .)) .Values.webhook.certificate.secretName }}
{{- end }}
