# The Glue 5.0 Spark jobs (docs/spark.md, "AWS Glue 5.0 job settings"): thin entry points over lean-ops'
# Spark engine, uploaded from `leanops package --out DIR` together with the lean-ops wheel.
#
# --topic_name is NOT a default argument: the state machines pass it on every run (`--topic_name.$ = $.topic`);
# the semantic job also gets --curated_snapshot_id, the rebuilder --resume and the table maintenance job
# --lease_holder (the topic pipeline's execution id) the same way.
#
# The table maintenance job (glue/table_maintenance.py, docs/maintenance-spark.md) runs Iceberg's procedures
# with the stage jobs' role: rewrites and expiry need the warehouse's GetObject/PutObject/DeleteObject, and the
# orphan removal lists each table's location (ListBucket under the warehouse prefix) and deletes the files no
# metadata references (DeleteObject), all of which ReadWriteWarehouse and ListWarehouse grant already.
#
# The seed-003 file processor (glue/file_processor.py) is a job of its own below: one manifest of landed
# NDJSON files into RAW as one commit, run by the file-manifest workflow with --manifest_id and --MANIFEST_PATH.
# It runs lean-ops' embedded engine on the driver (no Spark work), so it gets the smallest glueetl size and a
# role limited to RAW, the landing bucket and the manifest documents.

locals {
  jobs = {
    standardized_processor = "RAW -> Standardized for the topic in --topic_name"
    curated_processor      = "Standardized -> Curated for the topic in --topic_name"
    semantic_processor     = "Curated -> Semantic for the topic in --topic_name"
    historical_rebuilder   = "Full rebuild of the topic in --topic_name from RAW (NUCLEAR_RESET)"
    table_maintenance      = "Compaction, snapshot expiry, manifest rewrite and orphan removal of the topic in --topic_name"
  }

  # Every script uploaded to glue/: the stage jobs' and the file processor's.
  scripts = merge(local.jobs, {
    file_processor = "Landed NDJSON files of the manifest in --manifest_id -> RAW, one commit (seed 003)"
  })

  wheels     = fileset(var.artifacts_dir, "lean_ops-*-py3-none-any.whl")
  wheel_file = length(local.wheels) == 1 ? tolist(local.wheels)[0] : "lean_ops-MISSING-py3-none-any.whl"

  lake_arn         = "arn:${var.partition}:s3:::${var.lake_bucket}"
  artifacts_arn    = "arn:${var.partition}:s3:::${var.artifacts_bucket}"
  landing_arn      = "arn:${var.partition}:s3:::${var.landing_bucket}"
  glue_catalog_arn = "arn:${var.partition}:glue:${var.region}:${var.account_id}:catalog"
  glue_arn_prefix  = "arn:${var.partition}:glue:${var.region}:${var.account_id}"

  # Glue takes a single --conf whose value chains the others (docs/spark.md). The catalog must be named leanops.
  spark_conf = join(" --conf ", [
    "spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
    "spark.sql.catalog.leanops=org.apache.iceberg.spark.SparkCatalog",
    "spark.sql.catalog.leanops.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog",
    "spark.sql.catalog.leanops.io-impl=org.apache.iceberg.aws.s3.S3FileIO",
    "spark.sql.catalog.leanops.warehouse=${var.warehouse_uri}",
    "spark.sql.defaultCatalog=leanops",
    "spark.sql.session.timeZone=UTC",
  ])

  default_arguments = {
    "--job-language"                     = "python"
    "--datalake-formats"                 = "iceberg"
    "--catalog"                          = "glue"
    "--warehouse"                        = var.warehouse_uri
    "--state"                            = var.state_url
    "--schemas"                          = var.schemas_uri
    "--home"                             = var.leanops_home
    "--additional-python-modules"        = "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
    "--python-modules-installer-option"  = "--no-cache-dir"
    "--conf"                             = local.spark_conf
    "--job-bookmark-option"              = "job-bookmark-disable"
    "--enable-continuous-cloudwatch-log" = "true"
    "--enable-metrics"                   = "true"
    "--emf"                              = "1" # lean-ops: each stage run prints a CloudWatch EMF line (docs/operations.md)
  }

  raw_db     = var.glue_databases["raw"]
  raw_prefix = "${var.warehouse_prefix}/${local.raw_db}.db"

  # --- IAM statements both roles use ------------------------------------------------------------------

  # PyIceberg and Iceberg's GlueCatalog list the databases; Glue checks that against every database it returns.
  list_zones_statement = {
    Sid      = "ListZones"
    Effect   = "Allow"
    Action   = ["glue:GetDatabases"]
    Resource = [local.glue_catalog_arn, "${local.glue_arn_prefix}:database/*"]
  }

  job_runtime_statements = [
    {
      Sid       = "ListSchemaFiles"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = [local.artifacts_arn]
      Condition = { StringLike = { "s3:prefix" = ["${var.schemas_prefix}/*"] } }
    },
    {
      Sid    = "ReadScriptsWheelAndSchemas"
      Effect = "Allow"
      Action = ["s3:GetObject"]
      Resource = [
        "${local.artifacts_arn}/glue/*",
        "${local.artifacts_arn}/wheels/*",
        "${local.artifacts_arn}/${var.schemas_prefix}/*",
      ]
    },
    {
      Sid    = "StateStoreTables"
      Effect = "Allow"
      Action = [
        "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
      ]
      Resource = var.state_table_arns
    },
    {
      Sid      = "ProjectKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource = [var.kms_key_arn]
    },
    {
      # Glue creates its job log groups itself (their names depend on the security configuration).
      Sid      = "JobLogs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
      Resource = ["arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws-glue/*"]
    },
    {
      # --enable-metrics: cloudwatch:PutMetricData has no resource-level permissions (AWS requires "*");
      # the condition keeps it to Glue's namespace.
      Sid       = "JobMetrics"
      Effect    = "Allow"
      Action    = ["cloudwatch:PutMetricData"]
      Resource  = ["*"]
      Condition = { StringEquals = { "cloudwatch:namespace" = "Glue" } }
    },
  ]
}

# --- artifacts ------------------------------------------------------------------------------------------

resource "aws_s3_object" "wheel" {
  bucket                 = var.artifacts_bucket
  key                    = "wheels/${local.wheel_file}"
  source                 = "${var.artifacts_dir}/${local.wheel_file}"
  source_hash            = filemd5("${var.artifacts_dir}/${local.wheel_file}")
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn

  lifecycle {
    precondition {
      condition     = length(local.wheels) == 1
      error_message = "Expected exactly one lean_ops-*-py3-none-any.whl in artifacts_dir: run `leanops package --out DIR` into an empty DIR."
    }
  }
}

resource "aws_s3_object" "script" {
  for_each = local.scripts

  bucket                 = var.artifacts_bucket
  key                    = "glue/${each.key}.py"
  source                 = "${var.artifacts_dir}/glue/${each.key}.py"
  source_hash            = filemd5("${var.artifacts_dir}/glue/${each.key}.py")
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
}

# --- role -----------------------------------------------------------------------------------------------

locals {
  # both job roles: assumed by Glue, on behalf of this account only
  glue_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "glue.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role" "glue" {
  name               = "${var.name}-glue-jobs"
  description        = "Runs the lean-ops Glue jobs"
  assume_role_policy = local.glue_trust
}

resource "aws_iam_role_policy" "glue" {
  name = "least-privilege"
  role = aws_iam_role.glue.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.list_zones_statement,
      {
        # Create, commit (UpdateTable) and archive (rebuild: rename = CreateTable + DeleteTable) the zones' tables.
        Sid    = "ZoneTables"
        Effect = "Allow"
        Action = [
          "glue:GetDatabase", "glue:GetTable", "glue:GetTables",
          "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
        ]
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
        Sid      = "ReadWriteWarehouse"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.lake_arn}/${var.warehouse_prefix}/*"]
      },
    ], local.job_runtime_statements)
  })
}

# The file processor's own role: RAW only (raw.<topic>_staging and raw.dlq_errors: create, load, append),
# the landing files and the manifest documents read-only, plus what every job run needs.
resource "aws_iam_role" "file_processor" {
  name               = "${var.name}-glue-file-processor"
  description        = "Runs the lean-ops file processor Glue job (seed 003)"
  assume_role_policy = local.glue_trust
}

resource "aws_iam_role_policy" "file_processor" {
  name = "least-privilege"
  role = aws_iam_role.file_processor.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.list_zones_statement,
      {
        # process_manifest appends to raw.<topic>_staging and raw.dlq_errors, creating them when missing
        # (PyIceberg: GetTable, CreateTable, UpdateTable); nothing is ever deleted or renamed.
        Sid    = "RawTables"
        Effect = "Allow"
        Action = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
        Resource = [
          local.glue_catalog_arn,
          "${local.glue_arn_prefix}:database/${local.raw_db}",
          "${local.glue_arn_prefix}:table/${local.raw_db}/*",
        ]
      },
      {
        Sid       = "ListRawWarehouse"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.lake_arn]
        Condition = { StringLike = { "s3:prefix" = ["${local.raw_prefix}/*"] } }
      },
      {
        Sid      = "ReadWriteRawWarehouse"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.lake_arn}/${local.raw_prefix}/*"]
      },
      {
        # With ListBucket a vanished file reads as NoSuchKey (the file is marked failed with that reason),
        # not as AccessDenied.
        Sid       = "ListLandingFiles"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.landing_arn]
        Condition = { StringLike = { "s3:prefix" = ["${var.landing_prefix}*"] } }
      },
      {
        Sid      = "ReadLandingFiles"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.landing_arn}/${var.landing_prefix}*"]
      },
      {
        # --MANIFEST_PATH: the manifest documents the builder writes to the artifacts bucket.
        Sid      = "ReadManifestDocuments"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.artifacts_arn}/${var.manifest_prefix}*"]
      },
    ], local.job_runtime_statements)
  })
}

# --- jobs -----------------------------------------------------------------------------------------------

resource "aws_glue_security_configuration" "this" {
  name = "${var.name}-jobs"

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.kms_key_arn
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.kms_key_arn
    }

    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.kms_key_arn
    }
  }
}

resource "aws_glue_job" "this" {
  for_each = local.jobs

  name                   = "${var.name}-${replace(each.key, "_", "-")}"
  description            = each.value
  role_arn               = aws_iam_role.glue.arn
  glue_version           = var.glue_version
  worker_type            = var.worker_type
  number_of_workers      = var.number_of_workers
  timeout                = var.timeout_minutes
  max_retries            = 0 # the state machines retry (with backoff) and alert
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "glueetl"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.script[each.key].key}"
    python_version  = "3"
  }

  default_arguments = local.default_arguments

  # The orchestrator's Map runs one branch per topic at once, each starting the same job: Glue's default of 1
  # concurrent run would fail every branch but one with ConcurrentRunsExceededException.
  execution_property {
    max_concurrent_runs = var.max_concurrent_runs
  }

  lifecycle {
    precondition {
      condition     = var.max_concurrent_runs >= var.map_concurrency
      error_message = "max_concurrent_runs must be at least the orchestrator's Map concurrency (max_concurrency)."
    }
  }

  depends_on = [aws_iam_role_policy.glue]
}

resource "aws_glue_job" "file_processor" {
  name                   = var.file_processor_job_name
  description            = local.scripts["file_processor"]
  role_arn               = aws_iam_role.file_processor.arn
  glue_version           = var.glue_version
  worker_type            = var.file_processor_worker_type
  number_of_workers      = var.file_processor_number_of_workers
  timeout                = var.timeout_minutes
  max_retries            = 0 # the file-manifest workflow retries (with backoff) and alerts
  security_configuration = aws_glue_security_configuration.this.name

  # glueetl, not pythonshell: lean-ops needs Python >= 3.10 (Glue 5.0 glueetl: 3.11; Python shell: 3.9).
  command {
    name            = "glueetl"
    script_location = "s3://${var.artifacts_bucket}/${aws_s3_object.script["file_processor"].key}"
    python_version  = "3"
  }

  # The same deployment arguments as the stage jobs; the workflow adds --manifest_id and --MANIFEST_PATH per run.
  default_arguments = local.default_arguments

  # One execution per manifest: a burst of manifests starts several runs at once (the workflow also retries
  # ConcurrentRunsExceededException with backoff).
  execution_property {
    max_concurrent_runs = var.max_concurrent_runs
  }

  depends_on = [aws_iam_role_policy.file_processor]
}
