"""DynamoDB + SQS emulator for the tests: moto's server, handling one request at a time.

moto's TransactWriteItems checks conditions and writes without a lock (it deep-copies whole
tables to roll back), so two concurrent transactions can interleave or crash it. DynamoDB
itself never lets two transactions on the same item interleave. Serializing requests gives
the tests that guarantee; connections are still accepted concurrently.

Usage: python scripts/emulator.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class OneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Read the whole body while holding the lock so the response is complete too.
            return list(self.app(environ, start_response))


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, OneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
