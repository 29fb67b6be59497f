"""Gunicorn settings: one worker process (one model copy), threads for concurrency (gthread), from ASR_* settings.

Run: gunicorn -c python:litellm_local_asr.gunicorn_conf 'litellm_local_asr.app:create_app()'
"""

from litellm_local_common.logs import formatter_config

from litellm_local_asr.settings import get_settings

_settings = get_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = 1
worker_class = "gthread"
threads = _settings.threads
# The model loads in the worker (never before the fork: CUDA does not survive fork). gthread's heartbeat comes from
# the main thread, so a long transcription does not trip the timeout; loading the model does need the time.
preload_app = False
timeout = int(_settings.request_timeout_s) + 600
graceful_timeout = 60
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _settings.log_level.upper(), "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level.upper(), "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console", "stream": "ext://sys.stdout"}},
    "formatters": {"console": formatter_config(_settings.log_format)},
}
