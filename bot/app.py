"""The gateway as an ASGI app: the routes of the contract and the lifespan that builds everything.

    POST /telegram/webhook   Telegram updates (secret header checked, constant time);
                             the staff chat's commands and buttons go to ``bot/hotline/``
    POST /sms/twilio         Twilio SMS webhooks (signature checked against PUBLIC_URL);
                             on-call numbers' commands go to ``bot/hotline/``
    POST /sms/twilio/fallback  Twilio's Fallback URL: "send again later" TwiML
    GET  /healthz            the process is up
    GET  /readyz             Redis and Rasa answer (and the action server, if configured)
    GET  /metrics            Prometheus

Nothing is built at import time: Redis, HTTP clients and the ptb Application
are made in ``lifespan`` (python-telegram-bot's starlettebot example), and the
whole object graph is built in one function, ``build``, each object given
what it needs when it is made. Errors
become HTTP answers here, in one place: a forged call gets 403 and nothing is
processed; a body that is not a webhook gets 400; an outage of Redis gets 503
on Telegram, which delivers an update again, and on SMS, which Twilio never
sends again, a 200 TwiML answer asking the user to send it again later with
the emergency number. Never logs bodies, addresses or secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator, Dict, List, Optional
from urllib.parse import parse_qsl

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot import texts
from bot.channels import ChannelDoor
from bot.channels.sms import STOP_WORDS, SmsChannel, keyword, twiml, verify
from bot.channels.telegram import (
    TelegramChannel,
    TelegramUpdates,
    build_application,
    webhook_update,
)
from bot.channels.twilio import TwilioSender
from bot.conversation.delivery import Delivery
from bot.conversation.inbox import Clock, Conversations
from bot.conversation.messages import Inbound, Outgoing
from bot.conversation.outbox import Outbox
from bot.conversation.replies import WebhookReplies
from bot.conversation.users import Users
from bot.errors import ForgedRequestError, GatewayError
from bot.health import RelayWatch, readiness
from bot.hotline.silence import Silences
from bot.hotline.staff import StaffDesk
from bot.identity import AddressBook
from bot.metrics import Metrics
from bot.rasa import RasaClient
from bot.settings import Settings
from contract.channels import Channel
from contract.keys import Keys
from contract.languages import URDU, has_urdu_letters
from contract.reports import ReportStore
from contract.sealing import Sealer

logger = logging.getLogger(__name__)

MAX_BODY = 1_000_000
MAX_SMS_BODY = 32_768  # a Twilio SMS webhook is a few KB (1,600 characters of text at most)
TELEGRAM_PATH = "/telegram/webhook"
SMS_PATH = "/sms/twilio"
SMS_FALLBACK_PATH = "/sms/twilio/fallback"
XML = "application/xml"


@dataclass(frozen=True)
class Gateway:
    """Everything the routes need, built by ``build``."""

    settings: Settings
    redis: Redis
    metrics: Metrics
    conversations: Conversations
    rasa: RasaClient
    hotline: StaffDesk
    telegram: Optional[TelegramUpdates]
    sms: Optional[SmsChannel]
    validator: Optional[RequestValidator]
    http: httpx.AsyncClient  # for readiness probes
    relays: Optional[RelayWatch]  # when a hotline destination is configured


def create_app(
    settings: Settings, metrics: Optional[Metrics] = None, clock: Clock = time.time
) -> Starlette:
    """The gateway app for ``settings`` (run it with uvicorn, see ``bot/__main__.py``).

    ``clock``: the conversations' wall clock (tests pin the rate limit's minute with it).
    """
    metrics = metrics or Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            gateway = await build(settings, metrics, stack, clock)
            app.state.gateway = gateway
            yield

    routes = [
        Route(TELEGRAM_PATH, telegram_webhook, methods=["POST"]),
        Route(SMS_PATH, sms_webhook, methods=["POST"]),
        Route(SMS_FALLBACK_PATH, sms_fallback, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_exception_handler(ForgedRequestError, _forged)  # type: ignore[arg-type]
    app.add_exception_handler(GatewayError, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(RedisError, _unavailable)  # type: ignore[arg-type]
    return app


async def build(
    settings: Settings,
    metrics: Metrics,
    stack: contextlib.AsyncExitStack,
    clock: Clock = time.time,
) -> Gateway:
    """The gateway's object graph, in dependency order; ``stack`` closes what it opened."""
    # The socket timeout must outlast the longest blocking read (the SMS reply budget).
    redis = Redis.from_url(
        settings.redis_url, socket_timeout=settings.sms_reply_budget + 15, socket_connect_timeout=5
    )
    stack.push_async_callback(redis.aclose)
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=100))
    stack.push_async_callback(http.aclose)
    keys = Keys(settings.redis_prefix)
    sealer = Sealer(str(settings.data_keys))
    retention = settings.address_retention_days * 86400
    addresses = AddressBook(redis, sealer, keys, retention)
    users = Users(redis, keys, retention)  # a user's state lives as long as their address
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout, http)

    channels: Dict[Channel, ChannelDoor] = {}
    sms: Optional[SmsChannel] = None
    validator: Optional[RequestValidator] = None
    if settings.sms_enabled:
        twilio = TwilioSender.from_settings(settings, metrics, redis)
        stack.push_async_callback(twilio.close)
        sms = SmsChannel(twilio, settings.sms_max_segments)
        validator = RequestValidator(str(settings.twilio_auth_token))
        channels[Channel.SMS] = sms
    telegram: Optional[TelegramChannel] = None
    if settings.telegram_enabled:
        assert settings.telegram_bot_token is not None
        application = build_application(
            str(settings.telegram_bot_token),
            settings.telegram_api_url,
            polling=not settings.telegram_webhook,
        )
        telegram = TelegramChannel(application, redis, keys)
        channels[Channel.TELEGRAM] = telegram

    outbox = Outbox(
        redis,
        keys,
        sealer,
        addresses,
        users,
        {name: door.send for name, door in channels.items()},
        metrics,
        dead_days=settings.address_retention_days,
    )
    delivery = Delivery(channels, addresses, users, outbox)
    hotline = StaffDesk(ReportStore(redis, keys, sealer), keys, settings, users, delivery, rasa)
    conversations = Conversations(
        redis,
        keys,
        settings,
        sealer,
        addresses,
        users,
        rasa,
        channels,
        delivery,
        WebhookReplies(redis, keys),
        hotline,
        metrics,
        clock=clock,
    )
    updates = TelegramUpdates(telegram, conversations, hotline) if telegram is not None else None
    if telegram is not None and updates is not None:
        await _start_telegram(settings, telegram, updates, stack)
    await outbox.ensure_group()
    workers = [asyncio.create_task(conversations.sweep()), asyncio.create_task(outbox.work())]
    if settings.hotline_enabled:
        silences = Silences(hotline, keys, settings.handoff_silence_minutes * 60)
        workers.append(asyncio.create_task(silences.watch()))
    # The stack unwinds last-in first: the workers stop (no new drains), then the drains
    # under way finish, then the clients close.
    stack.push_async_callback(conversations.wait_idle)
    stack.push_async_callback(_stop, workers)
    logger.info(
        "gateway ready",
        extra={"telegram": settings.telegram_enabled, "sms": settings.sms_enabled},
    )
    stale = settings.relay_stale_seconds
    relays = RelayWatch(redis, keys, metrics, stale) if settings.hotline_enabled else None
    return Gateway(
        settings,
        redis,
        metrics,
        conversations,
        rasa,
        hotline,
        updates,
        sms,
        validator,
        http,
        relays,
    )


async def _stop(tasks: List[asyncio.Task[None]]) -> None:
    """Cancels background workers and waits until they have ended.

    Cancelled again while still running: redis-py's socket writes can swallow one cancel.
    """
    while any(not task.done() for task in tasks):
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1.0)


async def _start_telegram(
    settings: Settings,
    telegram: TelegramChannel,
    updates: TelegramUpdates,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Registers the webhook, or starts long polling when there is no public URL."""
    application = telegram.application
    await stack.enter_async_context(application)
    if settings.telegram_webhook:
        assert settings.telegram_webhook_secret is not None
        await application.bot.set_webhook(
            url=settings.public(TELEGRAM_PATH),
            secret_token=str(settings.telegram_webhook_secret),
            allowed_updates=["message", "callback_query"],
        )
        logger.info("telegram: webhook registered", extra={"mode": "webhook"})
        return
    updates.install(application)
    await application.start()
    stack.push_async_callback(application.stop)
    assert application.updater is not None
    await application.updater.start_polling(allowed_updates=["message", "callback_query"])
    stack.push_async_callback(application.updater.stop)
    logger.info("telegram: long polling (no PUBLIC_URL)", extra={"mode": "polling"})


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _body(request: Request, cap: int = MAX_BODY) -> bytes:
    """At most ``cap`` bytes of the body (the rest is never read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            break
    return bytes(body[: cap + 1])


async def telegram_webhook(request: Request) -> Response:
    """Telegram's webhook: secret checked first, then the update queued."""
    gateway = _gateway(request)
    settings = gateway.settings
    if gateway.telegram is None or not settings.telegram_webhook:
        return PlainTextResponse("Telegram is not configured for webhooks", status_code=404)
    expected = str(settings.telegram_webhook_secret).encode()
    given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
    if not hmac.compare_digest(given, expected):
        gateway.metrics.rejected.labels("telegram", "secret").inc()
        raise ForgedRequestError("bad Telegram secret token")
    gateway.metrics.received.labels("telegram").inc()
    try:
        data = json.loads(await _body(request))
    except ValueError:
        gateway.metrics.rejected.labels("telegram", "malformed").inc()
        return PlainTextResponse("body is not JSON", status_code=400)
    update = webhook_update(data, gateway.telegram.application)
    if update is None:
        gateway.metrics.rejected.labels("telegram", "malformed").inc()
        return PlainTextResponse("body is not a Telegram update", status_code=400)
    await gateway.telegram.route(update)
    return PlainTextResponse("ok")


async def _signed_sms(request: Request, gateway: Gateway, path: str) -> Dict[str, str]:
    """The parameters of a Twilio request to ``path``, once its signature is checked."""
    assert gateway.validator is not None
    raw = await _body(request, MAX_SMS_BODY)
    if len(raw) > MAX_SMS_BODY:  # no Twilio request is this big: refused before parsing
        gateway.metrics.rejected.labels("sms", "too_large").inc()
        raise ForgedRequestError("SMS webhook body over the cap")
    params: Dict[str, str] = dict(
        parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    )
    query = f"?{request.url.query}" if request.url.query else ""
    url = gateway.settings.public(path) + query
    try:
        verify(gateway.validator, url, params, request.headers.get("x-twilio-signature", ""))
    except ForgedRequestError:
        gateway.metrics.rejected.labels("sms", "signature").inc()
        raise
    return params


def _send_again(params: Dict[str, str]) -> Response:
    """TwiML asking the user to send the message again later, with the emergency number.

    Twilio does not deliver an SMS webhook again after an HTTP error, so a message the
    gateway cannot take in would be lost in silence; the user is told instead. The
    language is guessed from the message itself (nothing else can be read)."""
    language = URDU if has_urdu_letters(params.get("Body", "")) else None
    return Response(twiml([Outgoing(texts.text("sms_send_again", language))]), media_type=XML)


async def sms_webhook(request: Request) -> Response:
    """Twilio's webhook: signature checked first; the answer as TwiML within the budget.
    When Redis (or anything the gateway needs to take the message in) fails, the
    answer is still 200 with TwiML: send again later, and the emergency number."""
    gateway = _gateway(request)
    if gateway.sms is None or gateway.validator is None:
        return PlainTextResponse("SMS is not configured", status_code=404)
    params = await _signed_sms(request, gateway, SMS_PATH)
    gateway.metrics.received.labels("sms").inc()
    sid, sender = params.get("MessageSid", ""), params.get("From", "")
    if not sid or not sender:
        gateway.metrics.rejected.labels("sms", "malformed").inc()
        return PlainTextResponse("MessageSid and From are required", status_code=400)
    try:
        return await _take_sms(gateway, params, sid, sender)
    except (RedisError, GatewayError, OSError) as error:
        gateway.metrics.errors.labels("sms_not_taken").inc()
        logger.error(
            "an SMS could not be taken in; the sender is asked to send again", exc_info=error
        )
        return _send_again(params)


async def sms_fallback(request: Request) -> Response:
    """Twilio's Fallback URL (``POST /sms/twilio/fallback``): Twilio calls it when the
    main webhook fails or times out. It touches nothing (Redis may be what failed):
    signature checked, then the send-again TwiML."""
    gateway = _gateway(request)
    if gateway.sms is None or gateway.validator is None:
        return PlainTextResponse("SMS is not configured", status_code=404)
    params = await _signed_sms(request, gateway, SMS_FALLBACK_PATH)
    gateway.metrics.errors.labels("sms_fallback").inc()
    logger.warning("Twilio called the SMS fallback URL: the main webhook failed")
    return _send_again(params)


async def _take_sms(gateway: Gateway, params: Dict[str, str], sid: str, sender: str) -> Response:
    """Takes a signed, well-formed SMS in and answers within the reply budget."""
    settings = gateway.settings
    assert gateway.sms is not None
    if gateway.hotline.is_staff_number(sender):  # an on-call phone acting on a report
        return Response(
            twiml(await gateway.hotline.on_sms(sender, sid, params.get("Body", ""))),
            media_type=XML,
        )
    media = "mms" if params.get("NumMedia", "0") not in ("", "0") else None
    inbound = Inbound(Channel.SMS, sender, sid, params.get("Body", ""), media=media)
    conversations = gateway.conversations
    if keyword(inbound.text) in STOP_WORDS:
        # At once, not in turn: an answer still on its way must not go out after STOP.
        await conversations.opt_out(conversations.pseudonym(Channel.SMS, sender))
    accepted = await conversations.accept(inbound, wait=settings.sms_reply_budget)
    messages: List[Outgoing] = []
    if accepted.status == "rate_limited":
        language = await conversations.language_of(accepted.pseudonym)
        messages = [Outgoing(texts.text("rate_limited", language))]
    elif accepted.status == "new":
        outcome, messages = await conversations.wait_for_answer(sid, settings.sms_reply_budget)
        if outcome == "holding":
            language = await conversations.language_of(accepted.pseudonym)
            messages = [Outgoing(texts.text("holding", language))]
    for message in messages:
        gateway.sms.count_sent(message.text)
    return Response(twiml(messages), media_type=XML)


async def healthz(request: Request) -> Response:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when Redis, Rasa, the action server and a hotline relay answer (``bot/health.py``)."""
    gateway = _gateway(request)
    ready, body = await readiness(
        gateway.redis,
        gateway.rasa,
        gateway.http,
        gateway.settings.action_server_url,
        gateway.relays,
    )
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **body}, status_code=200 if ready else 503
    )


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format."""
    return Response(_gateway(request).metrics.render(), media_type="text/plain; version=0.0.4")


async def _forged(request: Request, error: ForgedRequestError) -> Response:
    logger.warning("webhook refused", extra={"path": request.url.path, "reason": str(error)})
    return PlainTextResponse("forbidden", status_code=403)


async def _unavailable(request: Request, error: Exception) -> Response:
    logger.error("webhook could not be taken in", extra={"path": request.url.path}, exc_info=error)
    return PlainTextResponse("temporarily unavailable", status_code=503)
