"""The ``bansou`` command, run through typer's runner against a real database."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from app import migrations
from app.auth.security import verify_password
from app.cli import cli
from app.db import make_engine
from app.models import Account, ApiKey, Contact, User
from tests.conftest import DatabaseFactory

KEY_LINE = re.compile(r"bsk_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}")


def run(db_url: str, *args: str, input: str | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(cli, list(args), input=input, env={"BANSOU_DATABASE_URL": db_url})


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


# -- keys --------------------------------------------------------------------------------------


def test_keys_create_prints_the_key_alone_on_the_last_line_and_it_works(
    db_url: str, client: TestClient
) -> None:
    result = ok(run(db_url, "keys", "create", "--name", "crm", "--scope", "read"))

    last = result.stdout.splitlines()[-1]
    assert KEY_LINE.fullmatch(last), result.stdout
    response = client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {last}"})
    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}
    # read scope, as asked: writing is refused
    assert client.post(
        "/api/v1/accounts", headers={"Authorization": f"Bearer {last}"},
        json={"id": "a", "name": "A"},
    ).status_code == 403


def test_keys_create_defaults_to_read_and_refuses_unknown_scopes(
    db_url: str, engine: Engine
) -> None:
    ok(run(db_url, "keys", "create", "--name", "crm"))
    bad = run(db_url, "keys", "create", "--name", "crm", "--scope", "root")

    assert bad.exit_code == 2
    assert "root" in bad.stderr
    with Session(engine) as s:
        assert [k.scope for k in s.exec(select(ApiKey)).all()] == ["read"]


def test_keys_list_shows_the_prefix_never_the_secret(db_url: str) -> None:
    secret = ok(run(db_url, "keys", "create", "--name", "crm", "--scope", "write")).stdout
    secret = secret.splitlines()[-1]
    prefix = "_".join(secret.split("_")[:2])

    listing = ok(run(db_url, "keys", "list")).stdout

    assert prefix in listing
    assert "crm" in listing
    assert "write" in listing
    assert secret not in listing
    assert secret.split("_", 2)[2] not in listing


def test_keys_revoke_by_prefix(db_url: str, client: TestClient) -> None:
    secret = ok(run(db_url, "keys", "create", "--name", "crm")).stdout.splitlines()[-1]
    prefix = "_".join(secret.split("_")[:2])

    result = ok(run(db_url, "keys", "revoke", prefix))

    assert prefix in result.stdout
    assert "revoked" in ok(run(db_url, "keys", "list")).stdout
    response = client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_keys_revoke_unknown_key_fails_with_a_message(db_url: str) -> None:
    result = run(db_url, "keys", "revoke", "bsk_00000000")

    assert result.exit_code == 1
    assert "bsk_00000000" in result.stderr
    assert "Traceback" not in result.output


# -- users -------------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(db_url: str, engine: Engine) -> None:
    result = run(
        db_url, "users", "create", "Aiko@Example.com", "--role", "csm", "--password-stdin",
        input="a-long-password\n",
    )

    ok(result)
    assert "aiko@example.com" in result.stdout
    with Session(engine) as s:
        user = s.exec(select(User)).one()
    assert (user.email, user.role) == ("aiko@example.com", "csm")
    assert verify_password("a-long-password", user.password_hash)
    assert "a-long-password" not in user.password_hash


def test_users_create_prompts_for_the_password_twice(db_url: str, engine: Engine) -> None:
    result = run(
        db_url, "users", "create", "lead@example.com", "--role", "admin",
        input="another-long-one\nanother-long-one\n",
    )

    ok(result)
    with Session(engine) as s:
        user = s.exec(select(User)).one()
    assert user.role == "admin"
    assert verify_password("another-long-one", user.password_hash)


def test_users_create_duplicate_email_fails_with_a_message(db_url: str, engine: Engine) -> None:
    args = ("users", "create", "aiko@example.com", "--role", "csm", "--password-stdin")
    ok(run(db_url, *args, input="a-long-password\n"))

    result = run(db_url, *args[:2], "AIKO@example.com", *args[3:], input="a-long-password\n")

    assert result.exit_code != 0
    assert "already exists" in result.stderr
    assert "Traceback" not in result.output
    assert count(engine, User) == 1


def test_users_create_unknown_role_is_a_usage_error(db_url: str, engine: Engine) -> None:
    result = run(
        db_url, "users", "create", "x@example.com", "--role", "boss", "--password-stdin",
        input="a-long-password\n",
    )

    assert result.exit_code == 2
    assert "boss" in result.stderr
    assert count(engine, User) == 0


def test_users_create_short_password_fails_with_a_message(db_url: str, engine: Engine) -> None:
    result = run(
        db_url, "users", "create", "x@example.com", "--password-stdin", input="short\n"
    )

    assert result.exit_code != 0
    assert "password" in result.stderr
    assert "10 characters" in result.stderr
    assert count(engine, User) == 0


# -- migrate -----------------------------------------------------------------------------------


@pytest.fixture
def blank_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh(migrated=False)
    yield url
    databases.drop(url)


def test_migrate_brings_an_empty_database_to_head(blank_url: str) -> None:
    result = ok(run(blank_url, "migrate"))

    assert "up to date" in result.stdout
    engine = make_engine(blank_url)
    try:
        assert {"account", "contact", "user", "api_key"} <= set(inspect(engine).get_table_names())
        assert migrations.current_revision(engine) == migrations.head_revision(blank_url)
    finally:
        engine.dispose()
    ok(run(blank_url, "migrate"))  # idempotent


def test_commands_migrate_first(blank_url: str) -> None:
    result = ok(run(blank_url, "keys", "create", "--name", "first"))

    assert KEY_LINE.fullmatch(result.stdout.splitlines()[-1])


def test_unreachable_database_is_a_clear_error() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/x"
    for args in (("migrate",), ("keys", "list"), ("demo", "--accounts", "1")):
        result = run(url, *args)

        assert result.exit_code == 1, (args, result.output)
        assert "cannot reach the database" in result.stderr
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)


def test_invalid_configuration_is_a_clear_error() -> None:
    result = run("mysql://u@db/x", "migrate")

    assert result.exit_code == 2
    assert "BANSOU_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.output


# -- demo data ---------------------------------------------------------------------------------

SIGN_IN = re.compile(r"^\s+(\S+@\S+)\s+(admin|csm|viewer)\s+(\S+)$")


@pytest.mark.slow
def test_demo_loads_a_realistic_book_of_business(db_url: str, engine: Engine) -> None:
    result = ok(run(db_url, "demo", "--accounts", "20", "--seed", "3"))

    with Session(engine) as s:
        accounts = s.exec(select(Account)).all()
        contacts = s.exec(select(Contact)).all()
        users = {u.email: u for u in s.exec(select(User)).all()}
    assert len(accounts) == 20
    assert len({a.segment for a in accounts}) >= 2
    assert {a.segment for a in accounts} <= {"enterprise", "mid_market", "smb"}
    assert len({a.industry for a in accounts}) >= 6
    assert len({a.name for a in accounts}) == 20
    for account in accounts:
        assert account.arr > 0
        assert account.licensed_seats and account.licensed_seats > 0
        assert account.contract_start_on and account.renewal_on
        assert account.renewal_on > account.contract_start_on
        assert (account.status == "churned") == (account.churned_on is not None)
    per_account = Counter(c.account_id for c in contacts)
    assert set(per_account) == {a.id for a in accounts}
    assert all(3 <= n <= 6 for n in per_account.values()), per_account
    assert any(c.is_champion for c in contacts)
    assert any(c.is_star_user for c in contacts)
    assert len(users) == 4
    assert sorted(u.role for u in users.values()) == ["admin", "csm", "csm", "csm"]
    # Every user's password is printed, and it is the one that signs them in.
    printed = [m.groups() for line in result.stdout.splitlines() if (m := SIGN_IN.match(line))]
    assert {email for email, _, _ in printed} == set(users)
    for email, role, password in printed:
        assert users[email].role == role
        assert verify_password(password, users[email].password_hash)
    assert "20 accounts" in result.stdout

    again = ok(run(db_url, "demo", "--accounts", "7", "--seed", "4"))

    assert "--reset" in again.stdout  # it tells how to replace the data
    assert count(engine, Account) == 20
    assert count(engine, User) == 4


def _account_names(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Account.name).order_by(Account.external_id)).all())


@pytest.mark.slow
def test_demo_reset_is_deterministic_for_a_seed(db_url: str, engine: Engine) -> None:
    ok(run(db_url, "keys", "create", "--name", "old"))
    ok(run(db_url, "demo", "--reset", "--accounts", "5", "--seed", "3"))
    first = _account_names(engine)
    assert count(engine, ApiKey) == 0  # --reset deleted everything that was there

    ok(run(db_url, "demo", "--reset", "--accounts", "5", "--seed", "3"))
    second = _account_names(engine)

    assert len(first) == 5
    assert first == second
    assert count(engine, User) == 4  # the users were replaced too, not duplicated


def test_demo_refuses_a_nonsense_account_count(db_url: str, engine: Engine) -> None:
    result = run(db_url, "demo", "--accounts", "0")

    assert result.exit_code == 2
    assert count(engine, Account) == 0


# -- jobs --------------------------------------------------------------------------------------


def test_jobs_lists_every_job_never_run_at_first(db_url: str) -> None:
    from app.scheduler import default_jobs

    listing = ok(run(db_url, "jobs")).stdout

    lines = listing.splitlines()
    assert lines[0].split()[:3] == ["job", "every", "status"]
    assert [line.split()[0] for line in lines[1:]] == [j.name for j in default_jobs()]
    assert "lifecycle" in listing and "6h" in listing and "never run" in listing
    assert ok(run(db_url, "jobs", "list")).stdout == listing


def test_jobs_shows_the_last_error_and_the_failures_in_a_row(db_url: str, engine: Engine) -> None:
    import datetime as dt

    from app.config import Settings
    from app.scheduler import Job, run_job_once
    from tests.conftest import AS_OF

    def broken(engine: Engine, settings: Settings, now: dt.datetime) -> dict[str, int | str]:
        raise RuntimeError("the playbook broke")

    settings = Settings(env="test", database_url=db_url, secret_key="test-secret-key-0123456789")
    run_job_once(engine, settings, Job("lifecycle", dt.timedelta(hours=6), broken),
                 clock=lambda: AS_OF)

    listing = ok(run(db_url, "jobs")).stdout

    (line,) = [x for x in listing.splitlines() if x.startswith("lifecycle ")]
    assert line.split()[2:6] == ["failed", "2026-11-23T09:00:00+00:00", "never", "1"]
    assert line.split()[6] == "2026-11-23T09:01:00+00:00"
    assert ("last error at 2026-11-23T09:00:00+00:00: error RuntimeError: the playbook broke"
            in listing)


def test_jobs_run_runs_one_now_and_records_it(db_url: str, engine: Engine) -> None:
    from app.jobs import service as jobs

    result = ok(run(db_url, "jobs", "run", "web-sessions"))

    assert result.stdout.startswith("web-sessions succeeded in ") and "removed=0" in result.stdout
    with Session(engine) as s:
        state = jobs.get(s, "web-sessions")
        assert state is not None and state.last_status == "succeeded"
        assert state.last_outcome == {"removed": 0}
    assert "removed=0" in ok(run(db_url, "jobs")).stdout


def test_jobs_run_refuses_an_unknown_job(db_url: str) -> None:
    result = run(db_url, "jobs", "run", "nope")

    assert result.exit_code == 1
    assert "no job 'nope'" in result.stderr and "lifecycle" in result.stderr


def test_jobs_run_exits_1_when_the_job_fails(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import scheduler

    def broken(*args: object) -> dict[str, int | str]:
        raise RuntimeError("smtp down")

    monkeypatch.setattr(scheduler, "web_sessions_job", broken)

    result = run(db_url, "jobs", "run", "web-sessions")

    assert result.exit_code == 1
    assert "web-sessions failed (1 in a row): error RuntimeError: smtp down" in result.stderr
