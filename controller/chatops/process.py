"""``landinggear chatops``: the process that serves chat commands, wired from its settings.

It holds only the chat-ops ServiceAccount's rights (read Rollouts and Events,
patch Rollouts, create Events and SubjectAccessReviews, get the identities
ConfigMap), never the controller's: a command is carried out only when the
person's own Kubernetes identity may do it (see :mod:`controller.chatops.acting`).

Slack (HTTP endpoints, and/or Socket Mode, see
:mod:`controller.chatops.slack.socketmode`) and Matrix (a bot long-polling its homeserver, see
:mod:`controller.chatops.matrix`) are each optional; both share one Actor and the
identities. Lifecycle: the identities are read in the background (``/readyz``
answers 503 until the first read and, with Matrix, the bot's first sync), the HTTP
server answers at once, SIGTERM or SIGINT stops
taking requests, lets queued commands finish and exits 0.
"""

from __future__ import annotations

import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog
from kubernetes import client, config
from slack_sdk import WebClient

from controller import __version__
from controller.chatops.acting import Actor
from controller.chatops.directory import IdentityDirectory
from controller.chatops.dispatch import Dispatcher
from controller.chatops.matrix import MatrixApi, MatrixBot
from controller.chatops.matrix.sink import MatrixRoomsSink
from controller.chatops.notifier import Notifier
from controller.chatops.notifying import Notifying, sinks
from controller.chatops.server import ChatopsServer, SlackEndpoints
from controller.chatops.server import serve as serve_http
from controller.chatops.settings import ChatopsSettings
from controller.chatops.slack.replies import Responder, check_token
from controller.chatops.slack.socketmode import SlackSocket
from controller.chatops.slack.verifying import RequestVerifier
from controller.kube.ratelimit import RateLimitedApiClient, RateLimiter

__all__ = ["Chatops", "SetupError", "read_secret", "serve"]

log = structlog.get_logger("landinggear.chatops")


class SetupError(Exception):
    """The settings cannot run (an unreadable secret file …): exit 2 with this message."""


def read_secret(path: str, what: str) -> str:
    """The stripped content of a secret file; :class:`SetupError` when unreadable or empty."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise SetupError(f"cannot read the {what} from {path}: {err}") from err
    if not value:
        raise SetupError(f"the {what} file {path} is empty")
    return value


def api_client(settings: ChatopsSettings, *, agent: str) -> client.ApiClient:
    """A rate-limited client from the kubeconfig (or the in-cluster config)."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=settings.kubeconfig,
            context=settings.context,
            client_configuration=configuration,
        )
    except config.ConfigException:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as err:
            raise SetupError(f"no kubeconfig and not in a cluster: {err}") from err
    api = RateLimitedApiClient(configuration, limiter=RateLimiter(qps=20, burst=40))
    api.user_agent = agent
    return api


@dataclass
class Chatops:
    """The parts of one running process."""

    settings: ChatopsSettings
    directory: IdentityDirectory
    dispatcher: Dispatcher | None
    endpoints: SlackEndpoints | None
    web: WebClient | None
    matrix: MatrixBot | None = None
    notifying: Notifying | None = None
    """Release notifications, when any destination is configured."""
    socket: SlackSocket | None = None
    """Slack in Socket Mode, when an app-level token is configured."""

    @classmethod
    def build(cls, settings: ChatopsSettings) -> Chatops:
        """Everything but the threads; :class:`SetupError` on what cannot work."""
        problem = settings.problem()
        if problem is not None:
            raise SetupError(problem)
        slack_secret = (
            read_secret(settings.slack_signing_secret_file, "Slack signing secret")
            if settings.slack_signing_secret_file
            else None
        )
        token = (
            read_secret(settings.slack_token_file, "Slack bot token")
            if settings.slack_token_file
            else None
        )
        app_token = (
            read_secret(settings.slack_app_token_file, "Slack app-level token")
            if settings.slack_app_token_file
            else None
        )
        if app_token is not None and not app_token.startswith("xapp-"):
            raise SetupError(
                f"{settings.slack_app_token_file} holds no Slack app-level token (xapp-…)"
            )
        matrix_token = (
            read_secret(settings.matrix_token_file, "Matrix access token")
            if settings.matrix_token_file
            else None
        )
        instance = settings.instance or socket.gethostname()
        api = api_client(settings, agent=f"landinggear-chatops/{__version__} ({instance})")
        namespace, name = settings.identities_ref
        directory = IdentityDirectory(
            api, namespace=namespace, name=name, refresh=settings.identities_refresh
        )
        actor = Actor(api, instance=instance)
        dispatcher, endpoints, web, slack_socket = None, None, None, None
        if slack_secret is not None or app_token is not None:
            dispatcher = Dispatcher(
                actor=actor,
                directory=directory,
                responder=Responder(api_url=settings.slack_api_url, timeout=settings.reply_timeout),
                workers=settings.workers,
                queue=settings.queue,
            )
        if app_token is not None and dispatcher is not None:
            slack_socket = SlackSocket(
                app_token=app_token,
                api_url=settings.slack_api_url,
                dispatcher=dispatcher,
                timeout=settings.reply_timeout,
                down_after=settings.slack_socket_down_after,
            )
        if slack_secret is not None and dispatcher is not None:
            endpoints = SlackEndpoints(
                verifier=RequestVerifier(slack_secret),
                api_url=settings.slack_api_url,
                dispatcher=dispatcher,
            )
        if token is not None:
            web = WebClient(
                token=token, base_url=settings.slack_api_url, timeout=round(settings.reply_timeout)
            )
        matrix = None
        if settings.matrix_homeserver and matrix_token is not None:
            matrix = MatrixBot(
                MatrixApi(settings.matrix_homeserver, matrix_token),
                rooms=settings.matrix_room,
                actor=actor,
                directory=directory,
                workers=settings.workers,
                queue=settings.queue,
                poll=settings.matrix_poll,
            )
        notifying = None
        if settings.notifies():
            teams = settings.teams_webhooks_file
            key = settings.webhook_secret_file
            try:
                found = sinks(
                    settings,
                    web=web,
                    teams_file=read_secret(teams, "Teams webhooks") if teams else None,
                    webhook_key=read_secret(key, "notification webhook key") if key else None,
                )
            except ValueError as err:
                raise SetupError(str(err)) from err
            if matrix is not None:
                found["matrix"] = MatrixRoomsSink(matrix.api, matrix)
            notifying = Notifying(api, Notifier(found))
        return cls(
            settings, directory, dispatcher, endpoints, web, matrix=matrix, notifying=notifying,
            socket=slack_socket,
        )  # fmt: skip

    def problems(self) -> list[str]:
        """What makes the process unhealthy (``/healthz``)."""
        found = [] if self.directory.alive() else ["the identities reader is not running"]
        if self.dispatcher is not None:
            found += self.dispatcher.problems()
        if self.matrix is not None:
            found += self.matrix.problems()
        if self.socket is not None:
            found += self.socket.problems()
        if self.notifying is not None:
            found += self.notifying.problems()
        return found

    def ready(self) -> bool:
        """Identities read once, the Matrix bot (if any) reading its rooms, and Socket Mode
        (if configured) connected once."""
        return (
            self.directory.loaded()
            and (self.matrix is None or self.matrix.ready())
            and (self.socket is None or self.socket.ready())
        )

    def start(self) -> ChatopsServer:
        """Start reading identities and serving; returns the server (its address is bound)."""
        self.directory.start()
        server = serve_http(
            self.settings.listen,
            slack=self.endpoints,
            healthy=self.problems,
            ready=self.ready,
        )
        host, port = server.server_address[:2]
        log.info("Serving chat-ops", address=f"{host!s}:{port}", networks=self.settings.networks(),
                 identities=self.settings.identities)  # fmt: skip
        if self.notifying is not None:
            self.notifying.start()
            log.info("Notifying", destinations=list(self.notifying.notifier.destinations))
        if self.web is not None:
            threading.Thread(target=check_token, args=(self.web,), daemon=True).start()
        if self.matrix is not None:
            self.matrix.start()
        if self.socket is not None:
            self.socket.start()
        return server

    def stop(self, server: ChatopsServer) -> None:
        """Stop taking requests, finish queued commands, stop reading identities."""
        server.shutdown()
        server.server_close()
        if self.socket is not None:
            self.socket.stop()
        if self.dispatcher is not None:
            self.dispatcher.shutdown(wait=True)
        if self.matrix is not None:
            self.matrix.stop(wait=True)
        if self.notifying is not None:
            self.notifying.stop()
        self.directory.stop()
        log.info("Stopped chat-ops")


def serve(chatops: Chatops) -> int:
    """Serve until SIGTERM or SIGINT, then stop cleanly: exit code 0."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("Received signal; shutting down", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = chatops.start()
    stop.wait()
    chatops.stop(server)
    return 0
