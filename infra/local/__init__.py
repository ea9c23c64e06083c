"""Local Kafka, Cassandra, Prometheus and Alertmanager on 127.0.0.1, without Docker.

``python -m infra.local up|down|status|logs``; see infra/local/README.md.
"""

from .config import LocalSettings
from .fetch import FetchError
from .manager import ServiceError, Status, down, status, up

__all__ = ["FetchError", "LocalSettings", "ServiceError", "Status", "down", "status", "up"]
