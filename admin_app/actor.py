"""Who is acting: every write names an actor, or the write gate refuses it.

* In a request, the logged-in user acts (``current_user``).
* On the CLI, ``--as USERNAME`` names a user; a few commands act as a named system actor
  (``seed-demo``, ``db upgrade``, the very first ``users create``).
* Background jobs act as the user who started them; tests use a fixture.

``acting_as(actor)`` sets the actor for a block of code; ``current_actor()`` answers who acts now.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

from flask import has_request_context

from models import User

_ACTOR: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("yby_actor", default=None)


@dataclass(frozen=True)
class Actor:
    """A user (with their scope) or a named system actor (``user`` is None) that may write anything
    the domain rules allow."""

    name: str
    user: User | None = None
    _scope: object = field(default=None, compare=False, repr=False)

    @property
    def is_system(self) -> bool:
        return self.user is None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def scope(self):
        from .scope import Scope, SystemScope, current_scope

        if self.user is None:
            return SystemScope()
        if self._scope is not None:
            return self._scope
        if has_request_context() and _is_current_user(self.user):
            return current_scope()
        scope = Scope.for_user(self.user)
        object.__setattr__(self, "_scope", scope)
        return scope

    def __str__(self) -> str:
        return self.name


def user_actor(user: User) -> Actor:
    return Actor(name=user.username, user=user)


def system_actor(name: str) -> Actor:
    """A named system actor (``system:seed-demo``); its writes are audited under that name."""
    return Actor(name=f"system:{name}")


@contextlib.contextmanager
def acting_as(actor: Actor | None):
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def _is_current_user(user: User) -> bool:
    from flask_login import current_user

    return bool(current_user) and getattr(current_user, "is_authenticated", False) and \
        getattr(current_user, "id", None) == user.id


def current_actor() -> Actor | None:
    """The explicit actor of this context, else the logged-in user of this request, else None."""
    actor = _ACTOR.get()
    if actor is not None:
        return actor
    if has_request_context():
        from flask_login import current_user

        if current_user and getattr(current_user, "is_authenticated", False):
            return Actor(name=current_user.username, user=current_user._get_current_object())
    return None
