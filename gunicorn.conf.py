"""gunicorn settings: ``gunicorn -c gunicorn.conf.py 'admin_app:create_app()'``.

Every value can be overridden from the environment (GUNICORN_* below) or on the command line.
Long work (batch prints, large imports and exports) runs as background jobs, so a request that
outlives the timeout is a fault to look at, not a reason to raise it.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: each holds one request; 2 × cores + 1 is gunicorn's usual starting point.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = 5
# Recycle workers now and then so a slow leak (e.g. a huge import) cannot grow a process forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = 200
# No preload_app: each worker builds its own app, so no database connection is shared across a fork.

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")  # "-" = stdout
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")  # "-" = stderr
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Combined log format plus the request time: %(M)s milliseconds (gunicorn ≥ 21), %(L)s seconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
# Behind a reverse proxy on the same host: trust its X-Forwarded-* headers only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
