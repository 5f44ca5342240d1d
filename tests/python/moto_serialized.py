"""moto_server with every request handled under one lock.

moto's DynamoDB applies a request as several Python steps without a lock, so two concurrent
conditional writes (or transactions) on one item can both pass their condition. Real DynamoDB
applies each conditional write and each TransactWriteItems atomically. The keys tests that race
requests against one budget run against this server, which keeps moto's threads (and HTTP
keep-alive) but lets one request at a time touch the backend: the guarantee DynamoDB gives.

Usage: python moto_serialized.py PORT (listens on 127.0.0.1 only).
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(
        "127.0.0.1",
        port,
        serialized,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
