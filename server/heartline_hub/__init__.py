"""The Heartline hub: WebSocket and HTTP for the devices of paired partners.

File by file: listener.py (the listening socket: WebSocket upgrades to
websocket.py, the rest to aiohttp), app.py (routes and lifecycle), node.py
(owns everything), session.py (one connection), websocket.py (the
WebSocket it speaks through), writer.py (its bounded queue), fanout.py
(local rooms fed by pub/sub), journal.py (recording events), decisions.py
(what to record), timers.py, presence.py, http_api.py (pairing and
devices), auth.py (tokens), store/ (the only code that talks to Redis),
settings.py and cli.py.
"""
