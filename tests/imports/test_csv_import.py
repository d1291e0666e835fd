"""CSV import: header mapping, encodings, all-or-nothing, partial, dry run, per-row errors,
idempotent re-imports, usage replace semantics, and constant memory on a big file."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app.imports import service as csv_import
from app.imports.service import ImportReport
from app.models import Account, Contact, Interaction, InteractionContact, UsageAccountDay, UsageDaily
from tests.builders import AS_OF, make_account, make_contact, make_user

ACCOUNTS = """\
account_id,name,segment,arr,renewal_on,traits.region
acme,Acme,smb,1200.50,2027-03-31,関東
globex,Globex,enterprise,90000,,
"""


def run(
    engine: Engine, kind: csv_import.ImportKind, text: str | io.TextIOBase, **options: Any
) -> ImportReport:
    """Import like the CLI does: one unit of work, committed at the end."""
    stream = io.StringIO(text) if isinstance(text, str) else text
    with Session(engine, expire_on_commit=False) as session:
        report = csv_import.import_csv(session, kind=kind, stream=stream, now=AS_OF, **options)
        session.commit()
    return report


def errors(report: ImportReport) -> list[tuple[int, str | None]]:
    return [(e.row, e.column) for e in report.errors]


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def accounts(engine: Engine) -> dict[str, Account]:
    with Session(engine) as s:
        return {a.external_id: a for a in s.exec(select(Account)).all()}


@pytest.fixture
def acme(engine: Engine) -> None:
    with Session(engine) as s:
        make_account(s, id="acme", name="Acme")
        make_account(s, id="globex", name="Globex")
        make_contact(s, account_id="acme", external_id="u-hana", email="hana@acme.jp")
        make_contact(s, account_id="acme", external_id="u-ken", email="ken@acme.jp")
        s.commit()


# -- accounts, header mapping, idempotent re-import --------------------------------------------


def test_accounts_import_creates_then_reimport_updates_to_the_same_state(engine: Engine) -> None:
    first = run(engine, "accounts", ACCOUNTS)
    before = {k: (a.name, a.segment, a.arr, a.renewal_on, a.traits) for k, a in accounts(engine).items()}
    second = run(engine, "accounts", ACCOUNTS)
    after = {k: (a.name, a.segment, a.arr, a.renewal_on, a.traits) for k, a in accounts(engine).items()}

    assert (first.rows, first.created, first.updated, first.error_count) == (2, 2, 0, 0)
    assert first.committed
    assert (second.created, second.updated, second.error_count) == (0, 2, 0)
    assert after == before
    assert before["acme"] == ("Acme", "smb", 1200.50, dt.date(2027, 3, 31), {"region": "関東"})


def test_reimport_updates_changed_fields_and_keeps_the_rest(engine: Engine) -> None:
    run(engine, "accounts", ACCOUNTS)

    report = run(engine, "accounts", "id,name,plan,traits.tier\nacme,Acme KK,Pro,gold\n")

    acme = accounts(engine)["acme"]
    assert (report.updated, report.committed) == (1, True)
    assert (acme.name, acme.plan, acme.segment) == ("Acme KK", "Pro", "smb")
    assert acme.traits == {"region": "関東", "tier": "gold"}


def test_header_mapping_renames_and_skips_columns(engine: Engine) -> None:
    text = "会社ID,会社名, Memo ,Segment\nacme,アクメ株式会社,call back,smb\n"

    report = run(
        engine, "accounts", text, mapping=csv_import.parse_mapping(["会社ID=id", "会社名=name", "Memo="])
    )

    assert report.error_count == 0, report.errors
    assert accounts(engine)["acme"].name == "アクメ株式会社"
    assert accounts(engine)["acme"].segment == "smb"


def test_unknown_or_missing_columns_stop_the_import_at_the_header(engine: Engine) -> None:
    unknown = run(engine, "accounts", "id,name,nickname\nacme,Acme,Ac\n")
    missing = run(engine, "accounts", "id,segment\nacme,smb\n")
    twice = run(engine, "accounts", "id,account_id,name\na,b,A\n")
    empty = run(engine, "accounts", "")

    assert errors(unknown) == [(1, "nickname")]
    assert "nickname=FIELD" in unknown.errors[0].message
    assert errors(missing) == [(1, None)]
    assert "name" in missing.errors[0].message
    assert errors(twice) == [(1, "account_id")]
    assert errors(empty) == [(1, None)]
    assert unknown.rows == missing.rows == 0
    assert not any(r.committed for r in (unknown, missing, twice, empty))
    assert count(engine, Account) == 0


def test_parse_mapping_refuses_malformed_items() -> None:
    with pytest.raises(csv_import.InvalidInput):
        csv_import.parse_mapping(["no-equals-sign"])


# -- all or nothing, partial, dry run, the error report ---------------------------------------

BAD_ACCOUNTS = """\
id,name,segment,arr,renewal_on,contract_start_on
good-1,Good One,smb,100,,
bad-seg,Bad Segment,galactic,100,,
good-2,Good Two,,,,
bad-many,,smb,-5,2026-01-01,2026-06-01
bad-dates,Dates,smb,0,2026-01-01,2026-06-01
"""


def test_default_is_all_or_nothing_with_a_per_row_report(engine: Engine) -> None:
    report = run(engine, "accounts", BAD_ACCOUNTS)

    assert not report.committed
    assert report.rejected
    assert count(engine, Account) == 0
    assert (report.rows, report.created, report.error_count) == (5, 2, 4)
    assert errors(report) == [
        (3, "segment"), (5, "name"), (5, "arr"), (6, "renewal_on"),
    ]
    assert "greater than or equal to 0" in report.errors[2].message
    assert report.as_dict()["errors"][0] == {
        "row": 3, "column": "segment", "message": report.errors[0].message,
    }


def test_partial_keeps_the_good_rows_and_reports_the_bad(engine: Engine) -> None:
    report = run(engine, "accounts", BAD_ACCOUNTS, partial=True)

    assert report.committed
    assert not report.rejected
    assert sorted(accounts(engine)) == ["good-1", "good-2"]
    assert report.error_count == 4


def test_dry_run_checks_everything_and_writes_nothing(engine: Engine) -> None:
    clean = run(engine, "accounts", ACCOUNTS, dry_run=True)
    dirty = run(engine, "accounts", BAD_ACCOUNTS, dry_run=True)

    assert (clean.created, clean.error_count, clean.committed) == (2, 0, False)
    assert (dirty.created, dirty.error_count, dirty.committed) == (2, 4, False)
    assert not clean.rejected and not dirty.rejected
    assert count(engine, Account) == 0


def test_unknown_owner_and_extra_cells_are_row_errors(engine: Engine) -> None:
    text = "id,name,owner\na,A,ghost@example.com\nb,B,,surplus\nc,C\n"

    report = run(engine, "accounts", text)

    assert errors(report) == [(2, "owner"), (3, None)]
    assert "more cells" in report.errors[1].message
    assert report.rows == 3


def test_detailed_errors_stop_at_1000_but_counting_goes_on(engine: Engine) -> None:
    lines = ["account_id,day,event,count,distinct_users"]
    lines += [f"acme,2026-11-01,e{i},-1,0" for i in range(1200)]

    report = run(engine, "usage", "\n".join(lines) + "\n")

    assert report.error_count == 1200
    assert len(report.errors) == csv_import.MAX_REPORTED_ERRORS == 1000
    assert report.errors[-1].row == 1001


# -- encodings ---------------------------------------------------------------------------------

JAPANESE = "id,name,industry\nsakura,株式会社さくら製作所,製造業\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (JAPANESE.encode("utf-8"), "utf-8-sig"),
        (JAPANESE.encode("utf-8-sig"), "utf-8-sig"),
        (JAPANESE.encode("utf-8-sig"), "utf-8"),
        (JAPANESE.encode("cp932"), "cp932"),
        (JAPANESE.replace("\n", "\r\n").encode("cp932"), "cp932"),
    ],
    ids=["utf8", "utf8-bom", "utf8-bom-read-as-utf8", "cp932", "cp932-crlf"],
)
def test_utf8_with_or_without_bom_and_cp932(engine: Engine, data: bytes, encoding: str) -> None:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")

    report = run(engine, "accounts", stream)

    assert report.error_count == 0, report.errors
    sakura = accounts(engine)["sakura"]
    assert (sakura.name, sakura.industry) == ("株式会社さくら製作所", "製造業")


def test_wrong_encoding_is_reported_not_a_crash(engine: Engine) -> None:
    stream = io.TextIOWrapper(io.BytesIO(JAPANESE.encode("cp932")), encoding="utf-8", newline="")

    report = run(engine, "accounts", stream)

    assert report.error_count == 1
    assert "cp932" in report.errors[0].message
    assert not report.committed
    assert count(engine, Account) == 0


def test_quoted_cells_with_commas_and_newlines_are_one_row(engine: Engine) -> None:
    text = 'id,name,traits.note\nacme,"Acme, Inc.","line one\nline two"\nbad,,x\n'

    report = run(engine, "accounts", text, partial=True)

    assert accounts(engine)["acme"].traits == {"note": "line one\nline two"}
    assert errors(report) == [(3, "name")]


# -- contacts ----------------------------------------------------------------------------------


def test_contacts_upsert_by_external_id_or_account_and_email(engine: Engine, acme: None) -> None:
    text = (
        "account_id,external_id,email,name,is_champion,traits.dept\n"
        "acme,u-hana,,Hana Sato,yes,営業\n"      # by external id
        "acme,,KEN@acme.jp,Ken Ito,,\n"          # by (account, email)
        "acme,u-new,new@acme.jp,New Person,false,\n"
        "globex,,ken@acme.jp,Ken at Globex,,\n"  # same email, other account: a new contact
    )

    first = run(engine, "contacts", text)
    second = run(engine, "contacts", text)

    assert (first.created, first.updated, first.error_count) == (2, 2, 0), first.errors
    assert (second.created, second.updated, second.error_count) == (0, 4, 0)
    with Session(engine) as s:
        people = {(c.account_id, c.email): c for c in s.exec(select(Contact)).all()}
    assert count(engine, Contact) == 4
    hana = next(c for c in people.values() if c.external_id == "u-hana")
    assert (hana.name, hana.is_champion, hana.traits) == ("Hana Sato", True, {"dept": "営業"})


def test_contact_row_errors(engine: Engine, acme: None) -> None:
    text = (
        "account_id,external_id,email,name,status\n"
        "ghost,u-1,a@x.jp,A,\n"
        "acme,,,Nobody,\n"
        "globex,u-hana,,Moved?,\n"
        "acme,u-2,not-an-email,B,\n"
        "acme,u-3,,C,retired\n"
        "acme,u-4,,D,deleted\n"
    )

    report = run(engine, "contacts", text, partial=True)

    assert errors(report) == [
        (2, "account_id"), (3, None), (4, "external_id"), (5, "email"), (6, "status"),
    ]
    with Session(engine) as s:
        d = s.exec(select(Contact).where(Contact.external_id == "u-4")).one()
    assert d.status == "deleted"


# -- interactions ------------------------------------------------------------------------------

INTERACTIONS = """\
external_id,account_id,type,occurred_at,author,title,contacts,score,comment,severity,status,attendees,notes
n-1,acme,nps_response,2026-11-01T10:00:00+09:00,,NPS,u-hana,9,よい,,,,
t-1,acme,support_ticket,2026-11-02T10:00:00Z,zendesk,Login fails,,,,high,closed,,
m-1,acme,meeting,2026-11-03T10:00:00+09:00,csm@example.com,QBR,,,,,,u-hana;ken@acme.jp,Renewal talk
"""


def test_interactions_import_and_reimport_is_idempotent(engine: Engine, acme: None) -> None:
    with Session(engine) as s:
        make_user(s, email="csm@example.com")
        s.commit()

    first = run(engine, "interactions", INTERACTIONS)
    second = run(engine, "interactions", INTERACTIONS)

    assert (first.created, first.error_count) == (3, 0), first.errors
    assert (second.created, second.unchanged, second.error_count) == (0, 3, 0)
    assert count(engine, Interaction) == 3
    assert count(engine, InteractionContact) == 3
    with Session(engine) as s:
        rows = {r.external_id: r for r in s.exec(select(Interaction)).all()}
    assert rows["n-1"].data == {"score": 9, "comment": "よい"}
    assert rows["t-1"].data == {"status": "closed", "severity": "high"}
    assert (rows["m-1"].body, rows["m-1"].author_user_id is not None) == ("Renewal talk", True)


def test_interaction_row_errors_name_the_column(engine: Engine, acme: None) -> None:
    text = (
        "account_id,type,occurred_at,score,severity,contacts,Zendesk Level\n"
        "acme,nps_response,2026-11-01T10:00:00Z,11,,,\n"
        "acme,note,2026-11-01T10:00:00Z,,high,,\n"
        "acme,note,2026-11-01T10:00:00,,,,\n"
        "acme,note,2026-11-01T10:00:00Z,,,u-hana;nobody,\n"
        "acme,call,2026-11-01T10:00:00Z,,,,\n"
        "acme,support_ticket,2026-11-01T10:00:00Z,,urgent,,3\n"
    )

    report = run(
        engine, "interactions", text, partial=True,
        mapping=csv_import.parse_mapping(["Zendesk Level=level"]),
    )

    assert errors(report) == [
        (2, "score"), (3, "severity"), (4, "occurred_at"), (5, "contacts"), (7, "Zendesk Level"),
    ]
    assert count(engine, Interaction) == 1


def test_reused_external_id_with_other_content_is_a_row_error(engine: Engine, acme: None) -> None:
    run(engine, "interactions", INTERACTIONS)
    changed = INTERACTIONS.replace(",9,", ",3,")

    report = run(engine, "interactions", changed)

    assert errors(report) == [(2, "external_id")]
    assert not report.committed


# -- usage -------------------------------------------------------------------------------------


def usage_rows(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    with Session(engine) as s:
        return {
            (r.day.isoformat(), r.event): (r.event_count, r.distinct_users)
            for r in s.exec(select(UsageDaily)).all()
        }


def account_days(engine: Engine) -> dict[str, tuple[int, int]]:
    with Session(engine) as s:
        return {
            r.day.isoformat(): (r.event_count, r.active_users)
            for r in s.exec(select(UsageAccountDay).order_by(col(UsageAccountDay.day))).all()
        }


def test_usage_import_replaces_and_recomputes_account_days(engine: Engine, acme: None) -> None:
    first = (
        "account_id,day,event,count,distinct_users,active_users\n"
        "acme,2026-11-01,login,10,4,\n"
        "acme,2026-11-01,report.export,5,2,\n"
        "acme,2026-11-02,login,3,3,7\n"
    )
    resend = (
        "account_id,day,event,count,distinct_users\n"
        "acme,2026-11-01,login,12,6\n"
    )

    one = run(engine, "usage", first)
    two = run(engine, "usage", resend)
    three = run(engine, "usage", resend)

    assert (one.created, one.updated) == (3, 0)
    assert (two.created, two.updated) == (0, 1)
    assert (three.created, three.updated) == (0, 1)
    assert usage_rows(engine) == {
        ("2026-11-01", "login"): (12, 6),
        ("2026-11-01", "report.export"): (5, 2),
        ("2026-11-02", "login"): (3, 3),
    }
    assert account_days(engine) == {"2026-11-01": (17, 6), "2026-11-02": (3, 7)}


def test_usage_row_errors(engine: Engine, acme: None) -> None:
    text = (
        "account_id,day,event,count,distinct_users\n"
        "ghost,2026-11-01,login,1,1\n"
        "acme,2026-11-31,login,1,1\n"
        "acme,2026-11-01,,1,1\n"
        "acme,2026-11-01,login,1,5\n"
        "acme,2030-01-01,login,1,1\n"
        "acme,2026-11-01,login,2,1\n"
    )

    report = run(engine, "usage", text, partial=True)

    assert errors(report) == [
        (2, "account_id"), (3, "day"), (4, "event"), (5, "distinct_users"), (6, "day"),
    ]
    assert usage_rows(engine) == {("2026-11-01", "login"): (2, 1)}


def _usage_file(path: Path, rows: int) -> Path:
    """Fifty events a day from 2024-01-01: every row its own (account, day, event)."""
    start = dt.date(2024, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("account_id,day,event,count,distinct_users\n")
        for i in range(rows):
            day = start + dt.timedelta(days=i // 50)
            f.write(f"acme,{day.isoformat()},event.{i % 50},{i % 97 + 1},1\n")
    return path


def _peak_import(engine: Engine, path: Path) -> tuple[ImportReport, int]:
    tracemalloc.start()
    try:
        with path.open(encoding="utf-8", newline="") as f:
            report = run(engine, "usage", f)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return report, peak


@pytest.mark.slow
def test_a_big_usage_file_streams_in_constant_memory(
    engine: Engine, acme: None, tmp_path: Path
) -> None:
    big = _usage_file(tmp_path / "big.csv", 50_000)
    size = big.stat().st_size

    report, peak = _peak_import(engine, big)

    assert (report.rows, report.created, report.error_count) == (50_000, 50_000, 0)
    assert report.committed
    assert count(engine, UsageDaily) == 50_000
    assert count(engine, UsageAccountDay) == 1_000
    # Holding the 50,000 rows would take 20 MB as csv dicts alone (75 MB with their models).
    # Streaming in chunks of 1,000 keeps the peak at one chunk's worth, whatever the file's size:
    # about 3 MB on SQLite, 6 MB on PostgreSQL (psycopg builds each batch's SQL).
    assert peak < 12_000_000, (peak, size)


def test_progress_is_reported_per_chunk(engine: Engine, acme: None, tmp_path: Path) -> None:
    seen: list[int] = []
    path = _usage_file(tmp_path / "u.csv", 2_500)
    with path.open(encoding="utf-8", newline="") as f, Session(engine) as s:
        csv_import.import_csv(s, kind="usage", stream=f, now=AS_OF, progress=seen.append)

    assert seen == [1000, 2000, 2500]

