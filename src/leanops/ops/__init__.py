"""Operations: the unified error view, metrics (Prometheus, CloudWatch EMF) and the web dashboard."""
