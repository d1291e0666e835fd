import datetime as dt

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.ingest import sources, store
from app.jobs import service as jobs
from app.models import Event, UsageDaily
from app.scheduler import Job, default_jobs, run_job_once
from tests.builders import AS_OF, make_account


def _send(session: Session, received_at: dt.datetime, n: int) -> None:
    source = sources.get_source(session, "web")
    raws = [
        {"type": "track", "event": "Login", "userId": f"u{i}", "messageId": f"{received_at}-{i}",
         "context": {"groupId": "acme"}, "timestamp": received_at.isoformat()}
        for i in range(n)
    ]
    store.ingest_messages(
        session, source=source, raws=raws, received_at=received_at, tz=dt.UTC
    )


def test_purge_deletes_old_raw_events_and_keeps_rollups(session: Session) -> None:
    make_account(session)
    sources.create_source(session, name="web", now=AS_OF)
    _send(session, AS_OF - dt.timedelta(days=500), 3)
    _send(session, AS_OF - dt.timedelta(days=10), 2)
    session.commit()

    deleted = store.purge_events(session, before=AS_OF - dt.timedelta(days=400), chunk=2)
    session.commit()

    assert deleted == 3
    assert session.exec(select(func.count()).select_from(Event)).one() == 2
    total = session.exec(select(func.sum(UsageDaily.event_count))).one()
    assert total == 5


def test_scheduled_purge_job_runs_under_its_lock(engine: Engine, settings: Settings,
                                                 session: Session) -> None:
    make_account(session)
    sources.create_source(session, name="web", now=AS_OF)
    _send(session, AS_OF - dt.timedelta(days=500), 4)
    session.commit()
    job = next(j for j in default_jobs() if j.name == "purge-raw-events")
    run = run_job_once(engine, settings, job, clock=lambda: AS_OF)
    assert run is not None and run.last_outcome == {"deleted": 4, "before": "2025-10-19"}


def test_a_job_held_elsewhere_is_skipped_on_postgresql(engine: Engine, settings: Settings) -> None:
    if engine.dialect.name != "postgresql":
        return
    import zlib

    from sqlalchemy import text

    calls: list[dt.datetime] = []

    def held(engine: Engine, settings: Settings, now: dt.datetime) -> dict[str, int | str]:
        calls.append(now)
        return {"ran": 1}

    job = Job("held", dt.timedelta(days=1), held)
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": zlib.crc32(b"held")})
        # Held elsewhere: not run, even when forced, and its state is not touched.
        assert run_job_once(engine, settings, job, clock=lambda: AS_OF, force=True) is None
        with Session(engine) as session:
            assert jobs.get(session, "held") is None
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": zlib.crc32(b"held")})
        other.commit()
    run = run_job_once(engine, settings, job, clock=lambda: AS_OF)
    assert run is not None and run.last_outcome == {"ran": 1}
    assert calls == [AS_OF]
