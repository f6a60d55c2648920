output "temporal_namespace" {
  description = "Temporal Cloud namespace id (OMNIHUB_TEMPORAL_NAMESPACE)."
  value       = temporalcloud_namespace.this.id
}

output "temporal_address" {
  description = "gRPC endpoint of the namespace (OMNIHUB_TEMPORAL_ADDRESS)."
  value       = temporalcloud_namespace.this.grpc_address
}

output "postgres_endpoint" {
  description = "host:port of the event store."
  value       = aws_db_instance.events.endpoint
}

output "redis_endpoint" {
  description = "Cluster endpoint of the plan-cache index (TLS)."
  value       = "${aws_memorydb_cluster.cache.cluster_endpoint[0].address}:${aws_memorydb_cluster.cache.cluster_endpoint[0].port}"
}

output "ecs_cluster_arn" {
  description = "ECS cluster running the API and worker services."
  value       = aws_ecs_cluster.this.arn
}

output "settings_secret_arn" {
  description = "Secrets Manager secret holding the OMNIHUB_* connection strings."
  value       = aws_secretsmanager_secret.settings.arn
}
