"""``bansou import``: a CSV file in, a per-row report out, the exit status says if all was well."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from typer.testing import CliRunner, Result

from app.cli import cli
from app.models import Account, UsageDaily

ACCOUNTS = "account_id,name,segment\nacme,Acme,smb\nglobex,Globex,enterprise\n"
WITH_BAD_ROW = "account_id,name,segment\nacme,Acme,smb\nbad,Bad,galactic\n"


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["import", *args], env={"BANSOU_DATABASE_URL": db_url})


def write(tmp_path: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def names(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        return {a.external_id: a.name for a in s.exec(select(Account)).all()}


def test_import_writes_the_rows_and_exits_0(db_url: str, engine: Engine, tmp_path: Path) -> None:
    result = run(db_url, "accounts", write(tmp_path, ACCOUNTS))

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "2 rows: 2 created" in result.stdout
    assert "written" in result.stdout
    assert names(engine) == {"acme": "Acme", "globex": "Globex"}


def test_reimport_is_idempotent(db_url: str, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNTS)
    run(db_url, "accounts", path)

    again = run(db_url, "accounts", path)

    assert again.exit_code == 0
    assert "0 created, 2 updated" in again.stdout
    assert len(names(engine)) == 2


def test_a_bad_row_means_nothing_written_exit_1_and_the_row_named(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    result = run(db_url, "accounts", write(tmp_path, WITH_BAD_ROW))

    assert result.exit_code == 1
    assert "row 3, column segment: Input should be" in result.stderr
    assert "nothing written" in result.stdout
    assert names(engine) == {}


def test_partial_keeps_the_good_rows(db_url: str, engine: Engine, tmp_path: Path) -> None:
    result = run(db_url, "accounts", "--partial", write(tmp_path, WITH_BAD_ROW))

    assert result.exit_code == 1
    assert "row 3, column segment" in result.stderr
    assert "rows with errors were skipped" in result.stdout
    assert names(engine) == {"acme": "Acme"}


def test_dry_run_writes_nothing(db_url: str, engine: Engine, tmp_path: Path) -> None:
    clean = run(db_url, "accounts", "--dry-run", write(tmp_path, ACCOUNTS))
    dirty = run(db_url, "accounts", "--dry-run", write(tmp_path, WITH_BAD_ROW, "bad.csv"))

    assert clean.exit_code == 0
    assert "dry run: nothing written" in clean.stdout
    assert dirty.exit_code == 1
    assert "row 3, column segment" in dirty.stderr
    assert names(engine) == {}


def test_header_mapping_bom_and_cp932(db_url: str, engine: Engine, tmp_path: Path) -> None:
    text = "会社ID,会社名,備考\nsakura,株式会社さくら,電話する\n"
    maps = ["--map", "会社ID=id", "--map", "会社名=name", "--map", "備考="]

    bom = run(db_url, "accounts", *maps, write(tmp_path, text, "bom.csv", "utf-8-sig"))
    sjis = run(
        db_url, "accounts", *maps, "--encoding", "cp932",
        write(tmp_path, text.replace("sakura", "ume"), "sjis.csv", "cp932"),
    )

    assert bom.exit_code == 0, bom.stderr
    assert sjis.exit_code == 0, sjis.stderr
    assert names(engine) == {"sakura": "株式会社さくら", "ume": "株式会社さくら"}


def test_wrong_encoding_says_which_to_try(db_url: str, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "id,name\nsakura,株式会社さくら\n", encoding="cp932")

    result = run(db_url, "accounts", path)

    assert result.exit_code == 1
    assert "cp932" in result.stderr
    assert names(engine) == {}


def test_usage_import_shows_progress_on_stderr(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    run(db_url, "accounts", write(tmp_path, ACCOUNTS))
    lines = ["account_id,day,event,count,distinct_users"]
    lines += [f"acme,2026-10-{1 + i // 100:02d},event.{i % 100},{i},0" for i in range(2500)]

    result = run(db_url, "usage", write(tmp_path, "\n".join(lines) + "\n", "usage.csv"))

    assert result.exit_code == 0, result.stderr
    assert "import usage" in result.stderr
    assert "2,500 rows" in result.stderr
    assert "2500 rows: 2500 created" in result.stdout
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(UsageDaily)).one() == 2500


def test_bad_options_exit_2(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNTS)

    assert run(db_url, "accounts", "--encoding", "klingon", path).exit_code == 2
    assert run(db_url, "accounts", "--map", "no-equals", path).exit_code == 2
    assert run(db_url, "accounts", str(tmp_path / "missing.csv")).exit_code == 2
    assert run(db_url, "planets", path).exit_code == 2
