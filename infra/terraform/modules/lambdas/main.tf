# The lean-ops Lambda functions (docs/aws-lambdas.md): one code zip (leanops-lambda.zip), one layer with the
# heavy dependencies, one IAM role per function with only what that function calls.

locals {
  lake_arn         = "arn:${var.partition}:s3:::${var.lake_bucket}"
  artifacts_arn    = "arn:${var.partition}:s3:::${var.artifacts_bucket}"
  glue_catalog_arn = "arn:${var.partition}:glue:${var.region}:${var.account_id}:catalog"
  glue_arn_prefix  = "arn:${var.partition}:glue:${var.region}:${var.account_id}"

  snowflake_refresh_name = "${var.name}-snowflake-refresh"

  # What every function that opens the lakehouse (Context.open) reads: docs/aws-state.md, docs/aws-catalog.md.
  deployment_env = {
    LEANOPS_STATE           = var.state_url
    LEANOPS_CATALOG         = "glue"
    LEANOPS_WAREHOUSE       = var.warehouse_uri
    LEANOPS_SCHEMAS         = var.schemas_uri
    LEANOPS_HOME            = var.leanops_home
    LEANOPS_ALERT_SNS_TOPIC = var.alerts_topic_arn
  }

  # reserved: reserved concurrency, -1 = none. Only the drainer needs one; the Step Functions tasks are bounded
  # by the Map's max_concurrency, and reserving more would take from the account's pool (new accounts: 10).
  functions = {
    sqs_to_firehose = {
      handler     = "leanops.aws.lambdas.sqs_to_firehose.handler"
      description = "SQS -> Firehose: each message one RAW row on the topic's delivery stream"
      memory_size = 256
      timeout     = 60
      layer       = false # boto3 (the runtime's) and tenacity (vendored in the zip) only
      reserved    = -1    # unreserved: the event source mapping's maximum_concurrency bounds it
      environment = {
        LEANOPS_FIREHOSE_STREAM   = var.firehose_stream
        LEANOPS_FIREHOSE_ATTEMPTS = tostring(var.firehose_attempts)
      }
    }
    dlq_drainer = {
      handler     = "leanops.aws.lambdas.dlq_drainer.handler"
      description = "DLQ -> raw.dlq_errors, then deletes the written messages"
      memory_size = 2048
      timeout     = 300 # budget + 60 s kept for the commit and the deletes
      layer       = true
      reserved    = 1 # docs/aws-lambdas.md: two drainers racing on one message could write it twice
      environment = merge(local.deployment_env, {
        LEANOPS_DLQ_URL            = var.dlq_url
        LEANOPS_DLQ_BUDGET_SECONDS = tostring(var.dlq_budget_seconds)
        LEANOPS_DLQ_MAX_MESSAGES   = tostring(var.dlq_max_messages)
      })
    }
    fetch_active_topics = {
      handler     = "leanops.aws.lambdas.orchestration.fetch_active_topics_handler"
      description = "Step Functions: the registry's active, ENABLED topics for the orchestrator's Map"
      memory_size = 1024
      timeout     = 120
      layer       = true
      reserved    = -1
      environment = local.deployment_env
    }
    flow_step = {
      handler     = "leanops.aws.lambdas.orchestration.flow_step_handler"
      description = "Step Functions: one Python step of the orchestrator's flow"
      memory_size = 2048
      timeout     = 900
      layer       = true
      reserved    = -1
      # UpdateSemanticCheckpoint's refresh hook invokes the Snowflake refresh (leanops.refresh.LambdaRefreshHook)
      environment = merge(local.deployment_env, {
        LEANOPS_REFRESH_LAMBDA = local.snowflake_enabled ? local.snowflake_refresh_name : ""
      })
    }
    notify = {
      handler     = "leanops.aws.lambdas.orchestration.notify_handler"
      description = "Step Functions: one alert through the configured channels (log, SNS)"
      memory_size = 256
      timeout     = 30
      layer       = true # the handler itself needs only boto3; the layer keeps it working whatever orchestration.py imports
      reserved    = -1
      environment = local.deployment_env
    }
    # Seed 003: landing bucket events (S3 -> SQS) and a flush schedule -> tracked files -> manifests, each
    # written to the manifests prefix and handed to the file-manifest workflow. Only the state store: no catalog.
    manifest_builder = {
      handler     = "leanops.aws.lambdas.manifest_builder.handler"
      description = "Landing files (S3 events via SQS, flush schedule) -> manifests -> the file-manifest workflow"
      memory_size = 1024
      timeout     = 180 # below LEANOPS_LOCK_TTL_SECONDS: a builder's lock always outlives the builder
      layer       = true
      reserved    = -1 # the event source mapping's maximum_concurrency bounds it
      environment = {
        LEANOPS_STATE             = var.state_url
        LEANOPS_LANDING_PREFIX    = var.landing_prefix
        LEANOPS_MANIFEST_BUCKET   = var.artifacts_bucket # never the landing bucket: documents are not landing data
        LEANOPS_MANIFEST_PREFIX   = var.manifest_prefix
        LEANOPS_FILE_WORKFLOW_ARN = var.file_workflow_arn
        LEANOPS_LOCK_TTL_SECONDS  = tostring(var.manifest_lock_ttl_seconds)
        LEANOPS_MAX_FILES         = tostring(var.manifest_max_files)
        LEANOPS_MAX_BYTES         = tostring(var.manifest_max_bytes)
        LEANOPS_MAX_WAIT_SECONDS  = tostring(var.manifest_max_wait_seconds)
      }
    }
    # Seed 004 section 5: `leanops check`'s figures as CloudWatch metrics on a schedule (the monitoring module's
    # rule and alarms), with Pre-RAW accountability. Below the schedule's period: two checks never overlap.
    health_check = {
      handler     = "leanops.aws.lambdas.health_check.handler"
      description = "Schedule: per-topic health metrics (curation and semantic lag, new drift, DLQ age, files) and Pre-RAW accountability"
      memory_size = 2048
      timeout     = 240
      layer       = true
      reserved    = -1
      environment = merge(local.deployment_env, {
        LEANOPS_HEALTH_NAMESPACE       = var.health_namespace
        LEANOPS_INGEST_QUEUE_URL       = var.source_queue_url
        LEANOPS_DLQ_URL                = var.dlq_url
        LEANOPS_FIREHOSE_ERRORS_URI    = "s3://${var.lake_bucket}/${var.firehose_errors_prefix}/"
        LEANOPS_PRE_RAW_WINDOW_SECONDS = tostring(var.pre_raw_window_seconds)
      })
    }
    # Seed 004 section 4: the drift log's stream (and LambdaRefreshHook after each Semantic commit) ->
    # ALTER ICEBERG TABLE ... REFRESH in Snowflake, with the connection from the Secrets Manager secret.
    snowflake_refresh = {
      handler     = "leanops.aws.lambdas.snowflake_refresh.handler"
      description = "Drift-log stream / Semantic commits -> ALTER ICEBERG TABLE ... REFRESH in Snowflake"
      memory_size = 1024
      timeout     = 120
      layer       = true # plus var.snowflake_layer_arn: snowflake-connector-python
      reserved    = -1
      environment = merge(local.deployment_env, {
        LEANOPS_SNOWFLAKE_SECRET_ARN       = local.snowflake_enabled ? var.snowflake_secret_arn : ""
        LEANOPS_SNOWFLAKE_DATABASE         = var.snowflake_database
        LEANOPS_SNOWFLAKE_SCHEMA           = var.snowflake_schema
        LEANOPS_SNOWFLAKE_STORAGE_BASE_URL = var.snowflake_storage_base_url
      })
    }
  }

  # The Snowflake refresh is optional: without a secret the function exists but nothing triggers it.
  snowflake_enabled = var.snowflake_secret_arn != null

  # --- IAM statements, composed per function below ---------------------------------------------------

  kms_statement = {
    Sid      = "ProjectKey"
    Effect   = "Allow"
    Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource = [var.kms_key_arn]
  }

  # X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions: AWS requires "*".
  xray_statements = var.enable_tracing ? [{
    Sid      = "XRayTraces"
    Effect   = "Allow"
    Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    Resource = ["*"]
  }] : []

  state_statement = {
    Sid    = "StateStoreTables"
    Effect = "Allow"
    Action = [
      "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
      "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
    ]
    Resource = var.state_table_arns
  }

  schemas_statements = [
    {
      Sid       = "ListSchemaFiles"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = [local.artifacts_arn]
      Condition = { StringLike = { "s3:prefix" = ["${var.schemas_prefix}/*"] } }
    },
    {
      Sid      = "ReadSchemaFiles"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.artifacts_arn}/${var.schemas_prefix}/*"]
    },
  ]

  # Lakehouse.open lists the databases (GetDatabases). Glue checks that call against the catalog and the
  # databases it returns, so it gets database/* (names only); everything else is on the four zones.
  catalog_list_statement = {
    Sid      = "ListZones"
    Effect   = "Allow"
    Action   = ["glue:GetDatabases"]
    Resource = [local.glue_catalog_arn, "${local.glue_arn_prefix}:database/*"]
  }

  lake_read_statements = [
    local.catalog_list_statement,
    {
      Sid    = "ReadZoneTables"
      Effect = "Allow"
      Action = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
      Resource = concat(
        [local.glue_catalog_arn],
        [for db in values(var.glue_databases) : "${local.glue_arn_prefix}:database/${db}"],
        [for db in values(var.glue_databases) : "${local.glue_arn_prefix}:table/${db}/*"],
      )
    },
    {
      Sid       = "ListWarehouse"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = [local.lake_arn]
      Condition = { StringLike = { "s3:prefix" = ["${var.warehouse_prefix}/*"] } }
    },
    {
      Sid      = "ReadWarehouse"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.lake_arn}/${var.warehouse_prefix}/*"]
    },
  ]

  # Only flow_step and notify send alerts (leanops.orchestrate.alerts); the others get the variable for uniformity.
  publish_alerts_statement = {
    Sid      = "PublishAlerts"
    Effect   = "Allow"
    Action   = ["sns:Publish"]
    Resource = [var.alerts_topic_arn]
  }

  raw_db = var.glue_databases["raw"]

  function_statements = {
    sqs_to_firehose = [
      {
        Sid      = "ConsumeIngestionQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        Resource = [var.source_queue_arn]
      },
      {
        Sid      = "PutToTopicStreams"
        Effect   = "Allow"
        Action   = ["firehose:PutRecordBatch", "firehose:PutRecord", "firehose:DescribeDeliveryStream"]
        Resource = var.firehose_stream_arns
      },
    ]
    dlq_drainer = concat([
      local.state_statement,
      local.catalog_list_statement,
      {
        Sid      = "DrainDeadLetterQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = [var.dlq_arn]
      },
      {
        # raw.dlq_errors: created on the first drain, then appended to (PyIceberg: GetTable + UpdateTable).
        Sid    = "WriteDlqErrorsTable"
        Effect = "Allow"
        Action = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
        Resource = [
          local.glue_catalog_arn,
          "${local.glue_arn_prefix}:database/${local.raw_db}",
          "${local.glue_arn_prefix}:table/${local.raw_db}/dlq_errors",
        ]
      },
      {
        Sid       = "ListDlqErrorsFiles"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.lake_arn]
        Condition = { StringLike = { "s3:prefix" = ["${var.warehouse_prefix}/${local.raw_db}.db/dlq_errors/*"] } }
      },
      {
        Sid      = "ReadWriteDlqErrorsFiles"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.lake_arn}/${var.warehouse_prefix}/${local.raw_db}.db/dlq_errors/*"]
      },
    ], local.schemas_statements)
    fetch_active_topics = concat([
      local.state_statement,
    ], local.lake_read_statements, local.schemas_statements)
    flow_step = concat([
      local.state_statement,
      local.publish_alerts_statement,
      ], local.snowflake_enabled ? [{
        Sid      = "InvokeSnowflakeRefresh"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = ["arn:${var.partition}:lambda:${var.region}:${var.account_id}:function:${local.snowflake_refresh_name}"]
    }] : [], local.lake_read_statements, local.schemas_statements)
    notify = [
      local.publish_alerts_statement,
    ]
    health_check = concat([
      local.state_statement, # the drift check's mark lives in the alert log (StateStore.mark_checked)
      {
        # PutMetricData and GetMetricStatistics have no resource-level permissions: AWS requires "*".
        Sid       = "PublishHealthMetrics"
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = ["*"]
        Condition = { StringEquals = { "cloudwatch:namespace" = var.health_namespace } }
      },
      {
        Sid      = "ReadQueueSends"
        Effect   = "Allow"
        Action   = ["cloudwatch:GetMetricStatistics"]
        Resource = ["*"]
      },
      {
        Sid      = "ReadQueueDepths"
        Effect   = "Allow"
        Action   = ["sqs:GetQueueAttributes"]
        Resource = [var.source_queue_arn, var.dlq_arn]
      },
      {
        Sid       = "ListFirehoseErrors"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.lake_arn]
        Condition = { StringLike = { "s3:prefix" = ["${var.firehose_errors_prefix}/*"] } }
      },
      {
        Sid      = "ReadFirehoseErrors"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.lake_arn}/${var.firehose_errors_prefix}/*"]
      },
    ], local.lake_read_statements, local.schemas_statements)
    snowflake_refresh = concat([
      local.state_statement,
      {
        Sid      = "ReadDriftLogStream"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
        Resource = [var.drift_log_stream_arn]
      },
      ], local.snowflake_enabled ? [{
        Sid      = "ReadSnowflakeSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.snowflake_secret_arn]
    }] : [], local.lake_read_statements, local.schemas_statements)
    manifest_builder = [
      {
        Sid      = "ConsumeLandingEvents"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        Resource = [var.landing_queue_arn]
      },
      {
        # Opening the DynamoDB state store describes every table of the layout (DynamoStateStore.create_tables).
        Sid      = "DescribeStateTables"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeTable"]
        Resource = var.state_table_arns
      },
      {
        # track_file, claim_files (conditional puts/updates), pending files (status index query, consistent
        # re-read; a Scan for tables made before the index) and the per-topic builder lock.
        Sid    = "FileTrackingTables"
        Effect = "Allow"
        Action = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem"]
        Resource = var.manifest_builder_table_arns
      },
      {
        Sid      = "WriteManifestDocuments"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = ["${local.artifacts_arn}/${var.manifest_prefix}*"]
      },
      {
        Sid      = "StartFileManifestWorkflow"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [var.file_workflow_arn]
      },
    ]
  }
}

# --- code and layer ---------------------------------------------------------------------------------------

resource "aws_s3_object" "layer" {
  bucket                 = var.artifacts_bucket
  key                    = "layers/${var.name}-layer.zip"
  source                 = var.layer_zip_path
  source_hash            = filemd5(var.layer_zip_path)
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "${var.name}-deps"
  description              = "lean-ops runtime dependencies (pyiceberg, pyarrow, duckdb, pydantic, ...)"
  s3_bucket                = aws_s3_object.layer.bucket
  s3_key                   = aws_s3_object.layer.key
  s3_object_version        = aws_s3_object.layer.version_id
  source_code_hash         = filebase64sha256(var.layer_zip_path)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name}-${replace(each.key, "_", "-")}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name        = "${var.name}-${replace(each.key, "_", "-")}-lambda"
  description = "Runs the ${each.key} Lambda function"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name = "least-privilege"
  role = aws_iam_role.this[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "OwnLogGroup"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
        },
        local.kms_statement,
      ],
      local.xray_statements,
      local.function_statements[each.key],
    )
  })
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (SQS, Firehose, DynamoDB, Glue, S3, SNS, Step Functions) over TLS with IAM; there is no private resource to reach, and a VPC would need NAT or eight VPC endpoints for nothing.
  #checkov:skip=CKV_AWS_116:No function is invoked asynchronously with an event worth keeping: SQS (event source mappings, failures go back to the queue and on to its DLQ), Step Functions (synchronous invoke, its Retry/Catch handle errors), the drainer's, the manifest builder's and the health check's schedules (the next run retries; a flush carries no data), and flow_step's asynchronous Snowflake refresh (the event names only a topic: the next Semantic commit or drift entry refreshes again).
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by `leanops package` (same sources, same sha256) and deployed by Terraform with source_code_hash; AWS Signer code signing is not set up for this project.
  for_each = local.functions

  function_name                  = "${var.name}-${replace(each.key, "_", "-")}"
  description                    = each.value.description
  role                           = aws_iam_role.this[each.key].arn
  handler                        = each.value.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  filename                       = var.lambda_zip_path
  source_code_hash               = filebase64sha256(var.lambda_zip_path)
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved
  layers = concat(each.value.layer ? [aws_lambda_layer_version.deps.arn] : [],
  each.key == "snowflake_refresh" && var.snowflake_layer_arn != null ? [var.snowflake_layer_arn] : [])
  kms_key_arn = var.kms_key_arn

  environment {
    variables = each.value.environment
  }

  tracing_config {
    mode = var.enable_tracing ? "Active" : "PassThrough"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this[each.key].name
  }

  lifecycle {
    precondition {
      condition     = each.key != "manifest_builder" || var.manifest_lock_ttl_seconds > each.value.timeout
      error_message = "manifest_lock_ttl_seconds must exceed the manifest builder's timeout, so that its lock outlives an invocation."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

# --- Snowflake refresh trigger ------------------------------------------------------------------------------

# A new drift-log entry (Semantic saw its upstream change) refreshes the topic's Snowflake table. A batch that
# fails (Snowflake unreachable) is retried, then split to isolate a bad record; the Errors alarm reports it.
resource "aws_lambda_event_source_mapping" "drift_log" {
  count = local.snowflake_enabled ? 1 : 0

  event_source_arn                   = var.drift_log_stream_arn
  function_name                      = aws_lambda_function.this["snowflake_refresh"].arn
  starting_position                  = "LATEST"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 30 # one refresh per topic for a burst of drift entries
  maximum_retry_attempts             = 10
  bisect_batch_on_function_error     = true

  filter_criteria {
    filter {
      pattern = jsonencode({ eventName = ["INSERT"] })
    }
  }
}
