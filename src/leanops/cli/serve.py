"""`leanops serve`: the dashboard, /metrics and the HTTP ingestion endpoint (leanops.ops.server)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HomeOpt, SchemasOpt


def serve(host: str = typer.Option("127.0.0.1", "--host", help="address to bind; any address other than a "
                                                                 "loopback one requires --token"),
          port: int = typer.Option(8080, "--port", min=0, max=65535, help="port (0: any free port)"),
          token: Optional[str] = typer.Option(None, "--token", envvar="LEANOPS_SERVE_TOKEN", show_default=False,
                                              help="bearer token every request must carry (at least 16 "
                                                   "characters); required off loopback"),
          max_body: str = typer.Option("16MB", "--max-body", help="largest request body (K/M/G binary: 16MB = "
                                                                   "16 MiB); larger ones get 413"),
          max_decompressed: Optional[str] = typer.Option(None, "--max-decompressed", show_default=False,
                                                         help="largest gzip body once inflated "
                                                              "(default 8 x --max-body)"),
          refresh: int = typer.Option(30, "--refresh", min=0, help="seconds between page refreshes (0: off)"),
          cache: float = typer.Option(5.0, "--cache-seconds", min=0,
                                      help="pages, /api and /metrics answer from data at most this old "
                                           "(an ingest here clears it; 0: recompute every request)"),
          max_connections: int = typer.Option(64, "--max-connections", min=1,
                                              help="requests handled at once; one more is answered 503 with "
                                                   "Retry-After"),
          ingest_wait: float = typer.Option(10.0, "--ingest-wait", min=0,
                                            help="seconds a POST waits behind its topic's queued ingests "
                                                 "before it is answered 503 with Retry-After"),
          home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt) -> None:
    """Serve the read-only dashboard, /metrics and POST /topics/{topic}/events until SIGINT/SIGTERM."""
    from leanops.cli.landing import parse_size
    from leanops.context import Context
    from leanops.ops.server import ServeOptions, check_options, make_server, serve as run_server

    options = ServeOptions(host=host, port=port, token=token or None, max_body=parse_size(max_body),
                           max_decompressed=parse_size(max_decompressed) if max_decompressed else None,
                           refresh_seconds=refresh, cache_seconds=cache, max_connections=max_connections,
                           ingest_wait_seconds=ingest_wait)
    check_options(options)  # before opening anything: a refused start touches nothing
    ctx = Context.open(home, schemas)
    try:
        server = make_server(ctx, options)
        auth = "bearer token required" if options.token else "no token (loopback only)"
        print(f"leanops serve: {server.url} ({auth}; home {ctx.settings.home}); Ctrl-C stops", flush=True)
        run_server(server)
        output.note("leanops serve: stopped")
    finally:
        ctx.close()
