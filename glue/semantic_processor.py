"""AWS Glue job `semantic_processor`: Curated -> Semantic for one topic on the Spark engine of lean-ops.

Job arguments: --topic_name (required), --curated_snapshot_id (the token the Curated step handed
over), --home / --schemas (local deployment), --max_batch_rows.
Glue 5.0 settings and the local spark-submit command: docs/spark.md.
"""
from leanops.engines.spark.jobs import main

if __name__ == "__main__":
    main("semantic_processor")
