"""Server-sent events: what changed on the platform, for the console's open pages (see api.live)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from sse_starlette import EventSourceResponse

from api.deps import allow_briefly, scope_read_briefly
from api.errors import ErrorOut
from api.live import Feed
from fleet.enums import Role
from fleet.models import User

router = APIRouter(tags=["live"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})

KEEP_ALIVE_SECONDS = 15


def feed(request: Request) -> Feed:
    found: Feed | None = getattr(request.app.state, "feed", None)
    if found is None:
        found = request.app.state.feed = Feed(request.app.state.engine)
    return found


@router.get("/events", summary="Live changes (server-sent events)", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`change` events `{seq, action, entity, entity_id, at}` (id: the audit "
                                            "seq), `ready` once caught up, `reset` when the page should reload all"}})
def events(request: Request, user: Annotated[User, Depends(allow_briefly(*Role))],
           last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None) -> EventSourceResponse:
    """Every change the caller may see, within a second of its commit. EventSource reconnects by itself and sends
    ``Last-Event-ID``: the changes missed meanwhile come first. No transaction stays open while the stream does."""
    return EventSourceResponse(feed(request).stream(user, last_event_id, scope_read_briefly(request)),
                               ping=KEEP_ALIVE_SECONDS,
                               headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
