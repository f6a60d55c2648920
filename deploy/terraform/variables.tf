variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "omnihub"
}

variable "image" {
  description = "OmniHub container image, pinned by digest (registry/omnihub@sha256:...)."
  type        = string
}

variable "vpc_id" {
  description = "VPC that holds the database, Redis and the containers."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two availability zones) for the data stores and tasks."
  type        = list(string)
}

variable "temporal_region" {
  description = "Temporal Cloud region of the namespace."
  type        = string
  default     = "aws-eu-west-1"
}

variable "temporal_retention_days" {
  description = "Days Temporal Cloud keeps closed workflow histories."
  type        = number
  default     = 30
}

variable "temporal_api_key" {
  description = "Temporal Cloud API key the workers and the API present (a service account's key)."
  type        = string
  sensitive   = true
}

variable "api_keys_secret" {
  description = "Key that encrypts API signing secrets at rest (32 bytes, URL-safe base64), shared by every process."
  type        = string
  sensitive   = true
}

variable "codec_keys" {
  description = "Temporal payload codec keys, 'id:base64,...' with the newest last, shared by every process."
  type        = string
  sensitive   = true
}

variable "postgres_instance_class" {
  description = "RDS instance class of the event store."
  type        = string
  default     = "db.t4g.medium"
}

variable "redis_node_type" {
  description = "MemoryDB node type of the plan-cache index."
  type        = string
  default     = "db.r7g.large"
}

variable "api_count" {
  description = "API tasks."
  type        = number
  default     = 2
}

variable "worker_count" {
  description = "Worker tasks."
  type        = number
  default     = 2
}
