"""gunicorn settings for the signstream server (bind, workers and threads come from ServerSettings).

Threaded workers; the app (and TensorFlow, and any thread) is created in each worker after the
fork, never in the arbiter: keep ``preload_app`` off.
"""

worker_class = "cloud_server.front.FrontWorker"  # gthread, balanced, reading each request whole before a thread
preload_app = False
graceful_timeout = 10
keepalive = 5
backlog = 1024  # new connections the kernel queues while the workers are busy (capped by net.core.somaxconn)
accesslog = None  # the app logs one structured line per request itself
errorlog = "-"
loglevel = "warning"
limit_request_line = 8190
limit_request_fields = 100
# gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two servers on a
# host would fight over it and a hardened unit cannot write there. signstream does not use it.
control_socket_disable = True
