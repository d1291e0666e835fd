"""Adoption reports (generate, send, read, revoke), the outbox, report schedules, check-in
templates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response, status

from app.api.common import BODY, ERRORS, NOT_FOUND, STATE_CONFLICT
from app.deps import (
    AdminKeyDep,
    NowDep,
    OutboxKickDep,
    ReadKeyDep,
    SessionDep,
    SettingsDep,
    WriteKeyDep,
)
from app.email import outbox
from app.models import Outbox
from app.reports import checkins
from app.reports import service as reports
from app.reports.schemas import ReportCreate, ScheduleCreate, TemplateIn
from app.types import DbId

router = APIRouter(tags=["adoption reports"], responses=ERRORS)


def _outbox_view(row: Outbox) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "to": row.to_addr, "subject": row.subject,
        "state": row.state, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
        "message_id": row.message_id, "last_error": row.last_error, "sent_at": row.sent_at,
        "created_at": row.created_at, "priority": row.priority, "send_by": row.send_by,
    }


def _template_view(key: str, language: str, t: checkins.Wording) -> dict[str, Any]:
    return {"key": key, "language": language, "subject": t.subject, "body": t.body,
            "customised": t.customised}


@router.post("/accounts/{account_id}/adoption-reports", status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, **BODY})
def create_report(
    account_id: str, report_in: ReportCreate, session: SessionDep, settings: SettingsDep,
    now: NowDep, key: WriteKeyDep, response: Response, kick: OutboxKickDep,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", max_length=128,  # api:{account}:{key} fits its 400
        description="A retry with the same key answers with the first report (200), unsent again",
    )] = None,
) -> dict[str, Any]:
    """Generate a report; with recipients, queue it to them (before bulk mail, delivered right
    after the response) and record it on the timeline."""
    dedupe_key = f"api:{account_id}:{idempotency_key}" if idempotency_key else None
    report = reports.generate(
        session, settings=settings, account_id=account_id, start=report_in.start,
        end=report_in.end, language=report_in.language, message=report_in.message,
        contact_ids=report_in.contact_ids, emails=report_in.emails, actor=f"api-key:{key.name}",
        now=now, dedupe_key=dedupe_key,
    )
    if report is None:
        assert dedupe_key is not None
        report = reports.find_by_key(session, dedupe_key)
        assert report is not None
        response.status_code = status.HTTP_200_OK
    elif report.recipients:
        kick()
    return reports.report_view(session, report, settings)


@router.get("/adoption-reports/{report_id}", responses=NOT_FOUND)
def get_report(
    report_id: DbId, session: SessionDep, settings: SettingsDep, _key: ReadKeyDep
) -> dict[str, Any]:
    """A generated report with its link and its numbers as sent."""
    return reports.report_view(session, reports.get_report(session, report_id), settings)


@router.post("/adoption-reports/{report_id}/revoke", responses=NOT_FOUND)
def revoke_report(
    report_id: DbId, session: SessionDep, settings: SettingsDep, now: NowDep, _key: WriteKeyDep
) -> dict[str, Any]:
    """Withdraw the report's link (its page answers 410 from now on)."""
    return reports.report_view(session, reports.revoke(session, report_id=report_id, now=now),
                               settings)


@router.post("/accounts/{account_id}/report-schedules", status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, **BODY})
def create_schedule(
    account_id: str, schedule_in: ScheduleCreate, session: SessionDep, now: NowDep,
    _key: WriteKeyDep,
) -> dict[str, Any]:
    """Send adoption reports automatically, monthly or quarterly on a day of the month."""
    s = reports.create_schedule(
        session, account_id=account_id, cadence=schedule_in.cadence,
        day_of_month=schedule_in.day_of_month, recipients=schedule_in.recipients,
        language=schedule_in.language, now=now,
    )
    return reports.schedule_view(s, account_id)


@router.get("/accounts/{account_id}/report-schedules", responses=NOT_FOUND)
def list_schedules(account_id: str, session: SessionDep, _key: ReadKeyDep) -> dict[str, Any]:
    """The account's automatic adoption reports (all of them: an account has a handful)."""
    return {"data": [reports.schedule_view(s, account_id)
                     for s in reports.list_schedules(session, account_id=account_id)],
            "next_cursor": None}


@router.delete("/accounts/{account_id}/report-schedules/{schedule_id}",
               status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_schedule(account_id: str, schedule_id: DbId, session: SessionDep,
                    _key: WriteKeyDep) -> None:
    """Stop an automatic adoption report (the reports it sent stay)."""
    reports.delete_schedule(session, account_id=account_id, schedule_id=schedule_id)


@router.get("/outbox")
def list_outbox(
    session: SessionDep, _key: AdminKeyDep,
    state: Literal["queued", "sending", "sent", "failed"] | None = None,
) -> dict[str, Any]:
    """The newest 100 emails (optionally in one state: queued, sending, sent, failed)."""
    return {"data": [_outbox_view(r) for r in outbox.list_messages(session, state=state)],
            "next_cursor": None}


@router.post("/outbox/{outbox_id}/retry", responses={**NOT_FOUND, **STATE_CONFLICT})
def retry_outbox(outbox_id: DbId, session: SessionDep, now: NowDep, _key: AdminKeyDep) -> dict[str, Any]:
    """Queue a failed email again."""
    return _outbox_view(outbox.retry(session, outbox_id=outbox_id, now=now))


@router.get("/email-templates/{key}/{language}", responses=NOT_FOUND)
def get_template(key: str, language: str, session: SessionDep, _key: ReadKeyDep) -> dict[str, Any]:
    """An automatic email's wording (the admin's, or the default)."""
    t = checkins.template(session, key=key, language=language)
    return _template_view(key, language, t)


@router.put("/email-templates/{key}/{language}", responses={**NOT_FOUND, **BODY})
def put_template(
    key: str, language: str, template_in: TemplateIn, session: SessionDep, now: NowDep,
    admin: AdminKeyDep,
) -> dict[str, Any]:
    """Change an automatic email's wording (placeholders: $contact_name, $account_name)."""
    t = checkins.save_template(session, key=key, language=language, subject=template_in.subject,
                               body=template_in.body, actor=f"api-key:{admin.name}", now=now)
    return _template_view(key, language, t)


@router.delete("/email-templates/{key}/{language}", responses=NOT_FOUND)
def reset_template(
    key: str, language: str, session: SessionDep, _admin: AdminKeyDep
) -> dict[str, Any]:
    """Go back to the default wording of an automatic email."""
    t = checkins.reset_template(session, key=key, language=language)
    return _template_view(key, language, t)
