"""File landing (seed 003): NDJSON files dropped in a directory or bucket, tracked, grouped into
manifests and ingested into RAW one manifest per commit. Modules: `files` (what counts as a complete
file, reading it), `manifests` (thresholds, claiming, ingesting, crash recovery), `watch` (one pass
of `leanops watch`), `operations` (stats, orphans, reset-stuck, the files' accountability), `failures`
(landed files that never reached RAW: the accountability gap, retry, dismiss)."""
