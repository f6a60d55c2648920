# OmniHub on managed services: a Temporal Cloud namespace, Amazon RDS for PostgreSQL (event
# store, API keys, idempotency records), Amazon MemoryDB (the plan-cache's vector index) and
# ECS Fargate (one image: `serve` and `worker` services).
#
# Why MemoryDB: OmniHub's Redis plan-cache index uses the Query Engine (FT.CREATE with an HNSW
# vector field, FT.SEARCH KNN with a TAG filter). MemoryDB supports those commands (vector
# search), is durable (multi-AZ transaction log) and stays inside the VPC next to the tasks.
# Upstash does not provide FT.*; Redis Cloud does, and is the choice on other clouds (point
# OMNIHUB_CACHE_URL at it instead).

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  redis_url    = "rediss://${aws_memorydb_user.omnihub.user_name}:${random_password.redis.result}@${aws_memorydb_cluster.cache.cluster_endpoint[0].address}:${aws_memorydb_cluster.cache.cluster_endpoint[0].port}"
  postgres_url = "postgresql://omnihub:${random_password.postgres.result}@${aws_db_instance.events.endpoint}/omnihub?sslmode=require"
  # Non-secret settings; the secret ones come from Secrets Manager (below).
  environment = {
    OMNIHUB_TEMPORAL_ADDRESS   = temporalcloud_namespace.this.grpc_address
    OMNIHUB_TEMPORAL_NAMESPACE = temporalcloud_namespace.this.id
    OMNIHUB_TEMPORAL_TLS       = "true"
    OMNIHUB_TASK_QUEUE         = "omnihub"
    OMNIHUB_API_HOST           = "0.0.0.0"
    OMNIHUB_API_PORT           = "8700"
    OMNIHUB_HOME               = "/var/lib/omnihub"
  }
  secrets = {
    OMNIHUB_EVENT_STORE_URL  = local.postgres_url
    OMNIHUB_API_KEYS_URL     = local.postgres_url
    OMNIHUB_API_REDIS_URL    = local.redis_url
    OMNIHUB_CACHE_URL        = local.redis_url
    OMNIHUB_TEMPORAL_API_KEY = var.temporal_api_key
    OMNIHUB_API_KEYS_SECRET  = var.api_keys_secret
    OMNIHUB_CODEC_KEYS       = var.codec_keys
  }
  services = {
    api    = { command = ["serve"], count = var.api_count, cpu = 512, memory = 1024 }
    worker = { command = ["worker"], count = var.worker_count, cpu = 1024, memory = 2048 }
  }
}

# --- Temporal Cloud -------------------------------------------------------------------------

resource "temporalcloud_namespace" "this" {
  name           = var.name
  regions        = [var.temporal_region]
  retention_days = var.temporal_retention_days
  api_key_auth   = true
}

# --- Encryption key for every store ---------------------------------------------------------

resource "aws_kms_key" "this" {
  description         = "${var.name}: RDS, MemoryDB, Secrets Manager and logs"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

# --- Network --------------------------------------------------------------------------------

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "OmniHub API and worker tasks"
  vpc_id      = var.vpc_id

  egress {
    description = "Temporal Cloud, LLM providers and the data stores"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "Temporal Cloud gRPC"
    from_port   = 7233
    to_port     = 7233
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "PostgreSQL and MemoryDB inside the VPC"
    from_port   = 5432
    to_port     = 6379
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_security_group" "data" {
  name        = "${var.name}-data"
  description = "PostgreSQL and MemoryDB, reachable from the OmniHub tasks only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "PostgreSQL from the tasks"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.tasks.id]
  }

  ingress {
    description     = "MemoryDB from the tasks"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_security_group.tasks.id]
  }
}

# --- PostgreSQL (event store, API keys, idempotency records) --------------------------------

resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.private_subnet_ids
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  managed_policy_arns = ["arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]
}

resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres17"

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "aws_db_instance" "events" {
  identifier                          = "${var.name}-events"
  engine                              = "postgres"
  engine_version                      = "17"
  instance_class                      = var.postgres_instance_class
  allocated_storage                   = 100
  max_allocated_storage               = 1000
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.this.arn
  db_name                             = "omnihub"
  username                            = "omnihub"
  password                            = random_password.postgres.result
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.data.id]
  parameter_group_name                = aws_db_parameter_group.this.name
  multi_az                            = true
  publicly_accessible                 = false
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.this.arn
  monitoring_interval                 = 30
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  final_snapshot_identifier           = "${var.name}-events-final"
}

# --- MemoryDB (plan-cache vector index, API rate limits and nonces) --------------------------

resource "random_password" "redis" {
  length  = 32
  special = false
}

resource "aws_memorydb_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.private_subnet_ids
}

resource "aws_memorydb_user" "omnihub" {
  user_name     = "omnihub"
  access_string = "on ~* &* +@all"
  authentication_mode {
    type      = "password"
    passwords = [random_password.redis.result]
  }
}

resource "aws_memorydb_acl" "this" {
  name       = var.name
  user_names = [aws_memorydb_user.omnihub.user_name]
}

resource "aws_memorydb_cluster" "cache" {
  name                     = "${var.name}-cache"
  engine                   = "redis"
  engine_version           = "7.1"
  node_type                = var.redis_node_type
  num_shards               = 1
  num_replicas_per_shard   = 1
  acl_name                 = aws_memorydb_acl.this.name
  subnet_group_name        = aws_memorydb_subnet_group.this.name
  security_group_ids       = [aws_security_group.data.id]
  tls_enabled              = true
  kms_key_arn              = aws_kms_key.this.arn
  snapshot_retention_limit = 7
  # Vector search (FT.*) is switched on by the parameter group, at creation only.
  parameter_group_name = aws_memorydb_parameter_group.this.name
}

resource "aws_memorydb_parameter_group" "this" {
  name   = "${var.name}-vector"
  family = "memorydb_redis7"

  parameter {
    name  = "search-enabled"
    value = "yes"
  }
}

# --- Settings secret ------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "settings" {
  #checkov:skip=CKV2_AWS_57:The values are derived from the passwords above; rotate them by replacing random_password (terraform apply -replace) and redeploying, since a Lambda rotator cannot change the RDS, MemoryDB and Temporal credentials together.
  name        = "${var.name}/settings"
  description = "OMNIHUB_* connection strings and API keys"
  kms_key_id  = aws_kms_key.this.arn
}

resource "aws_secretsmanager_secret_version" "settings" {
  secret_id     = aws_secretsmanager_secret.settings.id
  secret_string = jsonencode(local.secrets)
}

# --- ECS Fargate: the API and worker services -----------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.services
  name              = "/${var.name}/${each.key}"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_iam_role" "execution" {
  name = "${var.name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "execution" {
  name = "${var.name}-read-settings"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [aws_secretsmanager_secret.settings.arn]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.this.arn]
      },
      {
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for group in aws_cloudwatch_log_group.this : "${group.arn}:*"]
      },
    ]
  })
}

resource "aws_ecs_task_definition" "this" {
  for_each                 = local.services
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    # Workers: time for running activities to finish or heartbeat out after SIGTERM.
    stopTimeout  = each.key == "worker" ? 60 : 30
    portMappings = each.key == "api" ? [{ containerPort = 8700, protocol = "tcp" }] : []
    environment  = [for k, v in local.environment : { name = k, value = v }]
    secrets = [for k in keys(local.secrets) : {
      name      = k
      valueFrom = "${aws_secretsmanager_secret.settings.arn}:${k}::"
    }]
    mountPoints = [{ sourceVolume = "home", containerPath = "/var/lib/omnihub" }]
    healthCheck = each.key == "api" ? {
      command  = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/healthz', timeout=4)"]
      interval = 15
      timeout  = 5
      retries  = 3
    } : null
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this[each.key].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = each.key
      }
    }
  }])

  volume {
    name = "home"
  }
}

resource "aws_ecs_service" "this" {
  for_each        = local.services
  name            = "${var.name}-${each.key}"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this[each.key].arn
  desired_count   = each.value.count
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
}
