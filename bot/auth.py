"""`autopost auth NAME`: connect an account once, and store its tokens in the env file.

A network's own flow lives beside it (``bot/platforms/<name>_auth.py``), named by its
description's ``AuthFlow``; this module holds what every flow shares: the error a flow
raises, what it reports, its settings when none are set yet, the prompt for an app key,
the one-shot redirect listener on 127.0.0.1 (OAuth 2.0 authorization-code flows) and
the env-file helpers. Each flow takes its inputs and outputs as parameters
(``input_fn``, ``print_fn``, ``open_browser``) so tests drive it end to end against the
fake servers; the CLI passes ``input``/``getpass``, ``print`` and ``webbrowser.open``.
Tokens are written with :func:`bot.envfile.update_env_file` and never printed or logged;
every endpoint honours the ``*_API_BASE`` settings.
"""
from __future__ import annotations

import html
import logging
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from bot.config import Settings, read_env_file
from bot.models import AutopostError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)


class AuthFlowError(AutopostError):
    """An `autopost auth` flow could not finish; the message says why and what to do."""

    def __init__(self, network: str, message: str):
        self.network = network
        super().__init__(f"{network}: {message}")


class Connected(NamedTuple):
    """What a flow stored: the account it posts as and the variables written."""

    network: str
    account: str
    written: tuple[str, ...]


def network_settings(settings: Settings, name: str) -> Any:
    """``name``'s settings; its defaults when none of its variables is set (auth exists to set them)."""
    from bot.platforms.registry import network

    return settings.networks.get(name) or network(name).parse({})


def app_key(network: str, variable: str, value: str | None, prompt: str, ask: Callable[[str], str]) -> str:
    """An app key from the settings, else typed at a prompt; without it `auth` cannot start (exit 2)."""
    from bot.cli import UsageError

    if value:
        return value
    try:
        value = ask(prompt).strip()
    except EOFError:                                   # no terminal, nothing on standard input
        value = ""
    if not value:
        raise UsageError(f"auth {network} needs {variable}: set it in the env file or type it when asked; "
                         "nothing was changed")
    return value


class RedirectListener:
    """A one-shot HTTP server on 127.0.0.1 that waits for a network's OAuth redirect and checks its state.

    ``network`` is the flow's name (``autopost auth NAME``), ``label`` how the network is called
    in messages, ``path`` the redirect path registered with the network's app.
    """

    def __init__(self, port: int, state: str, *, network: str, label: str, path: str = "/callback"):
        self._state = state
        self.network, self.label, self.path = network, label, path
        self._done = threading.Event()
        self._code: str | None = None
        self._error: str | None = None
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != listener.path or listener._done.is_set():
                    return self._page(404, "Not found.")
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if not secrets.compare_digest(query.get("state", ""), listener._state):
                    # Not the answer to our request (CSRF, or an old tab): stop, take nothing from it.
                    listener._finish(error="the browser came back with a wrong or missing state, so the "
                                           f"answer was ignored; run `autopost auth {listener.network}` again")
                    return self._page(400, f"This answer does not belong to the running `autopost auth "
                                           f"{listener.network}`; nothing was saved.")
                if "error" in query:
                    said = query.get("error_description") or query["error"]
                    listener._finish(error=f"{listener.label} did not authorise the app: {_short(said)} "
                                           f"({query['error']})")
                    return self._page(200, f"{listener.label} did not authorise autopost: {said}. "
                                           f"You can close this tab.")
                if not query.get("code"):
                    listener._finish(error=f"{listener.label} sent the browser back without a code")
                    return self._page(400, "No authorisation code in this answer.")
                listener._finish(code=query["code"])
                return self._page(200, f"autopost is connected to {listener.label}. You can close this tab "
                                       "and return to the terminal.")

            def _page(self, status: int, text: str) -> None:
                payload = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>autopost</title></head>"
                           f"<body><p>{html.escape(text)}</p></body></html>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass                                 # the query holds the code: never log it

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise AuthFlowError(network, f"cannot listen on 127.0.0.1:{port} for {label}'s redirect "
                                            f"({exc.strerror or exc.__class__.__name__}); pick a free port "
                                            f"with --port and add http://127.0.0.1:PORT{path} "
                                            f"to the app's Authorized redirect URLs") from None
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{network}-redirect", daemon=True)

    def __enter__(self) -> RedirectListener:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _finish(self, *, code: str | None = None, error: str | None = None) -> None:
        self._code, self._error = code, error
        self._done.set()

    def wait(self, seconds: float) -> str:
        if not self._done.wait(seconds):
            raise AuthFlowError(self.network, f"{self.label} did not send the browser back within {seconds / 60:g} "
                                            f"minutes; nothing was saved. If the browser runs on another "
                                            f"machine, forward the port first (ssh -L "
                                            f"{self._server.server_address[1]}:127.0.0.1:"
                                            f"{self._server.server_address[1]} server)")
        if self._error:
            raise AuthFlowError(self.network, self._error)
        assert self._code is not None
        return self._code


def _existing_keys(env_path: str | Path) -> set[str]:
    path = Path(env_path)
    return set(read_env_file(path)) if path.is_file() else set()


# ───────────────────────────────────────────────────────────────── helpers

def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"
