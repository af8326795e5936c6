{{- define "dc-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dc-gateway.fullname" -}}
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

{{- define "dc-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dc-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dc-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dc-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dc-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dc-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret (and key) holding the database URL, or nothing (SQLite). */}}
{{- define "dc-gateway.databaseSecret" -}}
{{- if .Values.database.url -}}
{{- include "dc-gateway.fullname" . }}-database
{{- else -}}
{{- .Values.database.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "dc-gateway.databaseKey" -}}
{{- if .Values.database.url -}}url{{- else -}}{{ .Values.database.existingSecretKey }}{{- end -}}
{{- end -}}

{{- define "dc-gateway.sessionSecret" -}}
{{- if .Values.session.secret -}}
{{- include "dc-gateway.fullname" . }}-session
{{- else -}}
{{- .Values.session.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "dc-gateway.sessionKey" -}}
{{- if .Values.session.secret -}}secret{{- else -}}{{ .Values.session.existingSecretKey }}{{- end -}}
{{- end -}}

{{/* The configuration file: configToml as given, or `config` rendered to TOML. */}}
{{- define "dc-gateway.configToml" -}}
{{- if .Values.configToml -}}
{{- .Values.configToml -}}
{{- else -}}
{{- toToml .Values.config -}}
{{- end -}}
{{- end -}}

{{/* Several replicas need PostgreSQL: SQLite is one pod's file. */}}
{{- define "dc-gateway.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if .Values.autoscaling.enabled -}}{{- $replicas = int .Values.autoscaling.maxReplicas -}}{{- end -}}
{{- if and (gt $replicas 1) (not (include "dc-gateway.databaseSecret" .)) -}}
{{- fail "more than one replica needs PostgreSQL: set database.existingSecret or database.url" -}}
{{- end -}}
{{- if not (hasPrefix "https://" .Values.publicUrl) -}}
{{- if not (hasPrefix "http://" .Values.publicUrl) -}}
{{- fail "publicUrl must be an http(s) URL" -}}
{{- end -}}
{{- end -}}
{{- end -}}
