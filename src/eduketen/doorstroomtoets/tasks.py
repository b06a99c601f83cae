"""Worker handlers for the Doorstroomtoets messages the test supplier accepted."""

from __future__ import annotations

import orjson
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from eduketen.core.models import InboxMessage
from eduketen.core.worker import Batched, PermanentError
from eduketen.doorstroomtoets import las, service
from eduketen.register.models import School

_SCHOOL_ID = select(School.__table__.c.id).where(School.__table__.c.oin == bindparam("b_oin"))  # built once


def _school_id(session: Session, message: InboxMessage) -> int:
    school_id = session.connection().execute(_SCHOOL_ID, {"b_oin": message.school_oin}).scalar()
    if school_id is None:  # the school was removed from the register after the 202
        raise PermanentError("school no longer in the register")
    return school_id


def handle_registreren(session: Session, message: InboxMessage) -> dict:
    body = orjson.loads(message.payload)
    return service.process_deelnemerslijst(
        session,
        school_id=_school_id(session, message),
        routing=message.routing,
        spec_version=message.version,
        message_id=message.id,
        received_at=message.received_at,
        body=body,
    )


def handle_schooladviezen(session: Session, message: InboxMessage) -> dict:
    body = orjson.loads(message.payload)
    return service.process_schooladviezen(
        session,
        school_id=_school_id(session, message),
        message_id=message.id,
        received_at=message.received_at,
        body=body,
    )


def handle_leerlingresultaat(session: Session, message: InboxMessage) -> dict:
    """LAS role: store the result apart from identity data, then fetch the report."""
    body = orjson.loads(message.payload)
    return las.store_result(
        session,
        school_id=_school_id(session, message),
        body=body,
        received_at=message.received_at,
        edu_to=message.routing,
        edu_from=message.school_oin,
    )


class StoreResults(Batched):
    """LAS role: a claimed batch of received results stored at once (``las.store_results``);
    one at a time (``handle_leerlingresultaat``) when the batch cannot be."""

    def __call__(self, session: Session, message: InboxMessage) -> dict:
        return handle_leerlingresultaat(session, message)

    def handle_many(self, session: Session, messages: list[InboxMessage]) -> dict[str, dict]:
        oins = list(dict.fromkeys(m.school_oin for m in messages))
        table = School.__table__
        school_ids = dict(session.connection().execute(select(table.c.oin, table.c.id).where(table.c.oin.in_(oins))).all())
        if len(school_ids) != len(oins):
            raise PermanentError("school no longer in the register")  # the messages go one by one: only theirs fail
        items = [
            las.ResultIn(key=m.id, school_id=school_ids[m.school_oin], body=orjson.loads(m.payload), received_at=m.received_at,
                         edu_to=m.routing, edu_from=m.school_oin)
            for m in messages
        ]  # fmt: skip
        return las.store_results(session, items)


def handlers(settings, source) -> dict:
    """Worker handlers per operation. ``source`` is the register source (embedded or remote)."""

    return {
        "doorstroomtoets.registreren": handle_registreren,
        "doorstroomtoets.registreren-schooladviezen": handle_schooladviezen,
        "doorstroomtoets.leerlingresultaat": StoreResults(),
        "doorstroomtoets.rapport": service.RenderReport(settings, source),
    }


def outbox_handlers(settings) -> dict:
    """How answers of peers are read, per kind of outgoing message."""
    return {
        "las.deelnemers": las.on_send_response,
        "las.adviezen": las.on_send_response,
        "las.rapport": las.ReportHandler(),
    }
