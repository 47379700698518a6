"""The one route table: every path and method of the LUNA v6 spec.

``IMPLEMENTED`` maps a spec operation to its handler and the token-permission object it
checks (action from the HTTP method: POST creation, GET/HEAD view, PUT/PATCH modification,
DELETE deletion). Every other operation of the spec answers 501 with a LUNA error body naming
it, and every path answers OPTIONS with the methods the spec defines for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from api import errors
from api.agents import endpoints as agents_api
from api.auth import METHOD_ACTIONS, require
from api.catalogue import Operation, paths, route_pattern
from api.errors import LunaError
from api.keys import CONFIG, OPERATIONS, PRINCIPAL
from api.resources import (
    accounts,
    analytics_registry,
    attributes,
    blobs,
    detector,
    events,
    faces,
    handler_events,
    handlers,
    lists,
    matcher,
    service,
    stream_groups,
    stream_logs,
    stream_ws,
    streams,
    tokens,
    videosdk,
    websockets,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    # Token permission object (`face`, `token`, ...), or a function of the request naming it;
    # None = no token permission applies.
    permission: str | Callable[[web.Request], str] | None = None


def _sample_permission(request: web.Request) -> str:
    return "body_sample" if request.match_info["samples_type"] == "bodies" else "face_sample"


IMPLEMENTED: dict[tuple[str, str], Route] = {
    ("GET", "/healthcheck"): Route(service.healthcheck_redirect),
    ("GET", "/6/healthcheck"): Route(service.healthcheck),
    ("GET", "/version"): Route(service.version),
    ("GET", "/metrics"): Route(service.metrics),
    ("GET", "/6/docs/spec"): Route(service.docs_spec),
    ("GET", "/6/docs/dev"): Route(service.docs_dev),
    ("POST", "/6/videosdk"): Route(videosdk.videosdk),
    ("POST", "/6/credentials_verifier"): Route(service.credentials_verifier),
    ("GET", "/6/accounts"): Route(accounts.get_accounts, "account"),
    ("POST", "/6/accounts"): Route(accounts.post_accounts),
    ("GET", "/6/account"): Route(accounts.get_account, "account"),
    ("PATCH", "/6/account"): Route(accounts.patch_account),
    ("POST", "/6/tokens"): Route(tokens.post_tokens, "token"),
    ("GET", "/6/tokens"): Route(tokens.get_tokens, "token"),
    ("GET", "/6/tokens/{token_id}"): Route(tokens.get_token, "token"),
    ("PUT", "/6/tokens/{token_id}"): Route(tokens.put_token, "token"),
    ("DELETE", "/6/tokens/{token_id}"): Route(tokens.delete_token, "token"),
    ("POST", "/6/images"): Route(blobs.post_image, "image"),
    ("GET", "/6/images/{image_id}"): Route(blobs.get_image, "image"),
    ("HEAD", "/6/images/{image_id}"): Route(blobs.head_image, "image"),
    ("DELETE", "/6/images/{image_id}"): Route(blobs.delete_image, "image"),
    ("POST", "/6/samples/{samples_type}"): Route(blobs.post_sample, _sample_permission),
    ("GET", "/6/samples/{samples_type}/{sample_id}"): Route(blobs.get_sample, _sample_permission),
    ("HEAD", "/6/samples/{samples_type}/{sample_id}"): Route(blobs.head_sample, _sample_permission),
    ("DELETE", "/6/samples/{samples_type}/{sample_id}"): Route(blobs.delete_sample, _sample_permission),
    ("GET", "/6/samples/{sample_id}"): Route(blobs.get_sample, "face_sample"),
    ("HEAD", "/6/samples/{sample_id}"): Route(blobs.head_sample, "face_sample"),
    ("DELETE", "/6/samples/{sample_id}"): Route(blobs.delete_sample, "face_sample"),
    ("POST", "/6/detector"): Route(detector.post_detector, "face_sample"),
    ("POST", "/6/extractor"): Route(detector.post_extractor, "attribute"),
    ("POST", "/6/attributes"): Route(attributes.post_attributes, "attribute"),
    ("GET", "/6/attributes"): Route(attributes.get_attributes, "attribute"),
    ("GET", "/6/attributes/{attribute_id}"): Route(attributes.get_attribute, "attribute"),
    ("HEAD", "/6/attributes/{attribute_id}"): Route(attributes.head_attribute, "attribute"),
    ("DELETE", "/6/attributes/{attribute_id}"): Route(attributes.delete_attribute, "attribute"),
    ("GET", "/6/attributes/{attribute_id}/samples"): Route(attributes.get_attribute_samples, "attribute"),
    ("POST", "/6/faces"): Route(faces.post_faces, "face"),
    ("GET", "/6/faces"): Route(faces.get_faces, "face"),
    ("DELETE", "/6/faces"): Route(faces.delete_faces, "face"),
    ("GET", "/6/faces/count"): Route(faces.count_faces, "face"),
    ("GET", "/6/faces/attributes/count"): Route(faces.count_faces_with_attributes, "face"),
    ("GET", "/6/faces/{face_id}"): Route(faces.get_face, "face"),
    ("HEAD", "/6/faces/{face_id}"): Route(faces.head_face, "face"),
    ("PATCH", "/6/faces/{face_id}"): Route(faces.patch_face, "face"),
    ("DELETE", "/6/faces/{face_id}"): Route(faces.delete_face, "face"),
    ("PUT", "/6/faces/{face_id}/attributes"): Route(faces.put_face_attributes, "face"),
    ("GET", "/6/faces/{face_id}/attributes"): Route(faces.get_face_attributes, "face"),
    ("DELETE", "/6/faces/{face_id}/attributes"): Route(faces.delete_face_attributes, "face"),
    ("GET", "/6/faces/{face_id}/attributes/samples"): Route(faces.get_face_attribute_samples, "face"),
    ("POST", "/6/lists"): Route(lists.post_lists, "list"),
    ("GET", "/6/lists"): Route(lists.get_lists, "list"),
    ("DELETE", "/6/lists"): Route(lists.delete_lists, "list"),
    ("GET", "/6/lists/count"): Route(lists.count_lists, "list"),
    ("GET", "/6/lists/{list_id}"): Route(lists.get_list, "list"),
    ("HEAD", "/6/lists/{list_id}"): Route(lists.head_list, "list"),
    ("PATCH", "/6/lists/{list_id}"): Route(lists.patch_list, "list"),
    ("DELETE", "/6/lists/{list_id}"): Route(lists.delete_list, "list"),
    ("PATCH", "/6/lists/{list_id}/faces"): Route(lists.patch_list_faces, "list"),
    ("GET", "/6/events"): Route(events.get_events, "event"),
    ("GET", "/6/events/{event_id}"): Route(events.get_event, "event"),
    ("HEAD", "/6/events/{event_id}"): Route(events.head_event, "event"),
    # A read made with POST: the handler checks 'view' on 'event' itself.
    ("POST", "/6/events/statistic"): Route(events.post_statistic),
    # Matching needs 'matching' (not 'creation') on the objects it reads: the handlers check it.
    ("POST", "/6/matcher/faces"): Route(matcher.match_faces),
    ("POST", "/6/matcher/raw"): Route(matcher.match_raw),
    ("POST", "/6/matcher/bodies"): Route(matcher.match_bodies),
    ("POST", "/6/handlers"): Route(handlers.post_handlers, "handler"),
    ("GET", "/6/handlers"): Route(handlers.get_handlers, "handler"),
    ("GET", "/6/handlers/count"): Route(handlers.count_handlers, "handler"),
    # Validation creates nothing: 'view' is the right to ask.
    ("POST", "/6/handlers/validator"): Route(handlers.validate_handler),
    ("GET", "/6/handlers/{handler_id}"): Route(handlers.get_handler, "handler"),
    ("PUT", "/6/handlers/{handler_id}"): Route(handlers.put_handler, "handler"),
    ("HEAD", "/6/handlers/{handler_id}"): Route(handlers.head_handler, "handler"),
    ("DELETE", "/6/handlers/{handler_id}"): Route(handlers.delete_handler, "handler"),
    # Event generation is governed by the token's `emit_events` rule, checked by the handlers.
    ("POST", "/6/handlers/{handler_id}/events"): Route(handler_events.post_events),
    ("POST", "/6/handlers/{handler_id}/stream_events"): Route(handler_events.post_stream_events),
    ("POST", "/6/handlers/{handler_id}/events/raw"): Route(handler_events.post_raw_event, "event"),
    ("GET", "/6/ws"): Route(websockets.ws_events, "event"),
    ("GET", "/6/general/ws"): Route(websockets.ws_general, "event"),
    ("POST", "/6/login"): Route(tokens.post_login),
    ("DELETE", "/6/login"): Route(tokens.delete_login),
    ("POST", "/6/streams"): Route(streams.post_streams, "video_stream"),
    ("GET", "/6/streams"): Route(streams.get_streams, "video_stream"),
    ("DELETE", "/6/streams"): Route(streams.delete_streams, "video_stream"),
    ("GET", "/6/streams/count"): Route(streams.count_streams, "video_stream"),
    ("GET", "/6/streams/{stream_id}"): Route(streams.get_stream, "video_stream"),
    ("HEAD", "/6/streams/{stream_id}"): Route(streams.head_stream, "video_stream"),
    ("PUT", "/6/streams/{stream_id}"): Route(streams.put_stream, "video_stream"),
    ("PATCH", "/6/streams/{stream_id}"): Route(streams.patch_stream, "video_stream"),
    ("DELETE", "/6/streams/{stream_id}"): Route(streams.delete_stream, "video_stream"),
    ("GET", "/6/streams/{stream_id}/ws"): Route(stream_ws.ws_stream, "video_stream"),
    ("GET", "/6/streams/logs"): Route(stream_logs.get_logs, "video_stream"),
    ("DELETE", "/6/streams/logs"): Route(stream_logs.delete_logs, "video_stream"),
    ("POST", "/6/groups"): Route(stream_groups.post_groups, "video_group"),
    ("GET", "/6/groups"): Route(stream_groups.get_groups, "video_group"),
    ("GET", "/6/groups/count"): Route(stream_groups.count_groups, "video_group"),
    ("GET", "/6/groups/{group_id}"): Route(stream_groups.get_group, "video_group"),
    ("PATCH", "/6/groups/{group_id}"): Route(stream_groups.patch_group, "video_group"),
    ("DELETE", "/6/groups/{group_id}"): Route(stream_groups.delete_group, "video_group"),
    # Changes which streams a group holds: 'modification' on 'video_group'.
    ("PATCH", "/6/linker"): Route(stream_groups.patch_linker, "video_group"),
    ("GET", "/6/analytics"): Route(analytics_registry.get_analytics, "video_analytic"),
    ("GET", "/6/analytics/{analytic_id}"): Route(analytics_registry.get_analytic, "video_analytic"),
    ("GET", "/6/analytics/{analytic_id}/docs"): Route(analytics_registry.get_analytic_docs, "video_analytic"),
}
# INTERNAL: the stream agents' API (api/agents). Not spec operations: no catalogue entry, no
# OpenAPI document, no token auth (each handler checks the Argus-Agent-Key header itself), but
# registered here so the same middleware frame (request id, LUNA errors, metrics) applies.
INTERNAL: dict[tuple[str, str], Handler] = {
    ("POST", "/internal/agents"): agents_api.register,
    ("POST", "/internal/agents/{agent_id}/heartbeat"): agents_api.heartbeat,
    ("POST", "/internal/agents/{agent_id}/streams/{stream_id}/events"): agents_api.events,
}
# Security overrides, each for a reason: POST /6/accounts reads `Luna-Account-Id` as the new
# account's id (spec parameter luna_account_id_new_account), so it cannot also authenticate.
# /6/videosdk declares none, yet it reads media files and downloads URLs on the caller's behalf
# and can keep a CPU busy for minutes; the spec's own examples call it with Basic auth.
# The stream logs declare none, yet they show every account's streams and errors (camera URLs
# among them) and the spec's examples send Basic auth: they are scoped like the streams.
SECURITY_OVERRIDES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/6/accounts"): ("BasicAuth",),
    ("GET", "/6/streams/logs"): ("BasicAuth", "BearerAuth", "LunaAccountIdAuth"),
    ("DELETE", "/6/streams/logs"): ("BasicAuth", "BearerAuth", "LunaAccountIdAuth"),
    ("POST", "/6/videosdk"): ("BasicAuth", "BearerAuth", "LunaAccountIdAuth"),
}


def _guarded(route: Route) -> Handler:
    """Check the token permission, then call the handler."""
    if route.permission is None:
        return route.handler
    permission, handler = route.permission, route.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        principal = request[PRINCIPAL]
        if principal is not None:
            obj = permission if isinstance(permission, str) else permission(request)
            require(principal, obj, METHOD_ACTIONS[request.method])
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def not_implemented(op: Operation) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = op.operation_id or f"{op.method} {op.path}"
        raise LunaError(
            errors.NOT_IMPLEMENTED,
            f"Operation '{name}' ({op.method} {op.path}) is not implemented in this Argus version",
        )

    return handler


def options_handler(allow: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=200,
            headers={
                "Allow": allow,
                "Access-Control-Allow-Headers": "*",
                "Access-Control-Allow-Methods": "*",
                "Access-Control-Max-Age": "86400",
            },
        )

    return handler


def is_implemented(op: Operation) -> bool:
    return op.method == "OPTIONS" or op.key in IMPLEMENTED


def setup_routes(app: web.Application) -> None:
    table: dict[tuple[str, str], Operation] = {}
    overrides = dict(SECURITY_OVERRIDES)
    if app[CONFIG].auth.open_registration:
        overrides["POST", "/6/accounts"] = ()
    for path, ops in paths().items():
        resource = app.router.add_resource(route_pattern(path))
        methods = sorted({op.method for op in ops} | {"OPTIONS"})
        for op in ops:
            if op.method == "OPTIONS":
                continue
            op = dataclasses.replace(op, security=overrides.get(op.key, op.security))
            table[op.key] = op
            route = IMPLEMENTED.get(op.key)
            resource.add_route(op.method, _guarded(route) if route else not_implemented(op))
        resource.add_route("OPTIONS", options_handler(", ".join(methods)))
    for (method, path), handler in INTERNAL.items():
        app.router.add_route(method, path, handler)
    missing = set(IMPLEMENTED) - set(table)
    if missing:
        raise RuntimeError(f"route table names operations the spec does not have: {sorted(missing)}")
    app[OPERATIONS] = table
