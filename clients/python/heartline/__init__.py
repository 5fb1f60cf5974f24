"""The Heartline client: partner signals and the pair's shared state.

``heartline.connect(url, token)`` opens a session that reconnects and
resumes by itself; see client.py for the API and connection.py for how it
survives real networks.
"""

from .backoff import Backoff
from .client import EventStream, Heartline, connect
from .connection import Options
from .errors import HeartlineError, HubError, NotDelivered, OutboxFull, SessionEnded
from .state import SharedState

__all__ = [
    "Backoff",
    "EventStream",
    "Heartline",
    "HeartlineError",
    "HubError",
    "NotDelivered",
    "Options",
    "OutboxFull",
    "SessionEnded",
    "SharedState",
    "connect",
]
