"""Settings → health model: edit a model's groups, measures, weights and thresholds in the browser,
see how the bands of today's accounts would change, then publish the edit as a new version.

The editor's form carries the definition it started from (``base``, JSON) and a field for each
number an admin tunes; ``apply_form`` lays the fields over the base. Structural changes (a new
measure, another data source) go through the JSON box, which loads a definition into the editor.
Nothing is stored until "Publish": then the definition becomes the model's draft and is published
at once, the previous version retired (``app.health.models``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.deps import AdminUserDep, NowDep, SessionDep
from app.errors import Conflict, InvalidInput
from app.health import assignments as health_assignments
from app.health import calibration as calibration_svc
from app.health import models as health_models
from app.health import preview as health_preview
from app.health import snapshots as health_snapshots
from app.scoring.health import BANDS as SCORE_BANDS
from app.types import DbId
from app.views import htmx
from app.views.charts import bar_chart
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, show
from app.views.settings import BAND_DEFAULTS, SECTIONS
from app.views.settings import _page as settings_page

router = APIRouter(prefix="/settings")
BANDS = (*SCORE_BANDS, "none")
#: The grading numbers the form shows for each kind of grading.
GRADING_FIELDS = {"thresholds": ("good", "normal"), "linear": ("low", "high"), "breakpoints": ("cuts",)}
GRADING_LABELS = (N_("grading:good"), N_("grading:normal"), N_("grading:low"), N_("grading:high"))


def _number(text: str) -> float:
    value = float(text.strip().replace(",", "."))
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _whole(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def apply_form(base: dict[str, Any], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The base definition with the form's numbers laid over it, and the fields that are not
    numbers (field name → "number"). Measures ticked ``remove`` are dropped, and a group left
    without measures with them; fields for measures the base lacks are ignored.

    >>> base = {"band_good": 70, "groups": [{"key": "a", "weight": 1, "measures": [
    ...     {"key": "x", "weight": 1, "grading": {"kind": "thresholds", "good": 5, "normal": 2}}]}]}
    >>> defn, errors = apply_form(base, {"band_good": "65", "m.a.x.good": "6", "m.a.x.weight": "w"})
    >>> defn["band_good"], defn["groups"][0]["measures"][0]["grading"]["good"], errors
    (65, 6, {'m.a.x.weight': 'number'})
    """
    definition = copy.deepcopy(base)
    errors: dict[str, str] = {}

    def take(name: str, target: dict[str, Any], key: str, *, whole: bool = False) -> None:
        text = form.get(name)
        if text is None or not text.strip():
            return
        try:
            value = _number(text)
            if whole and not value.is_integer():
                raise ValueError(text)
        except ValueError:
            errors[name] = "number"
            return
        target[key] = _whole(value)

    take("band_good", definition, "band_good")
    take("band_normal", definition, "band_normal")
    groups = []
    for group in definition.get("groups", []):
        gkey = group.get("key", "")
        take(f"g.{gkey}.weight", group, "weight")
        measures = []
        for measure in group.get("measures", []):
            prefix = f"m.{gkey}.{measure.get('key', '')}"
            if form.get(f"{prefix}.remove"):
                continue
            take(f"{prefix}.weight", measure, "weight")
            take(f"{prefix}.window_days", measure, "window_days", whole=True)
            grading = measure.setdefault("grading", {})
            if grading.get("kind") == "breakpoints":
                text = form.get(f"{prefix}.cuts")
                if text is not None and text.strip():
                    try:
                        grading["cuts"] = [_whole(_number(p)) for p in text.split(";") if p.strip()]
                    except ValueError:
                        errors[f"{prefix}.cuts"] = "number"
            else:
                for key in GRADING_FIELDS.get(grading.get("kind", ""), ()):
                    take(f"{prefix}.{key}", grading, key)
            measures.append(measure)
        if measures:
            group["measures"] = measures
            groups.append(group)
    definition["groups"] = groups
    return definition, errors


#: The horizons a calibration can be asked for from the editor.
CALIBRATION_HORIZONS = (30, 60, 90, 180)
CALIBRATION_LABELS = (
    N_("verdict:signal"),
    N_("verdict:no_signal"),
    N_("verdict:wrong_way"),
    N_("variant:calibrated"),
    N_("variant:weights_only"),
    N_("variant:thresholds_only"),
    N_("variant:kept"),
)


def _get(row: Mapping[str, Any] | None, key: str) -> Any:
    return None if row is None else row.get(key)


def _span(dates: list[str]) -> tuple[dt.date | None, dt.date | None]:
    """The first and last of stored ISO dates."""
    return (dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1])) if dates else (None, None)


def calibration_view(record: Any, definition: Mapping[str, Any]) -> dict[str, Any]:
    """A stored calibration laid out for the editor: the protocol, the published version and
    the proposal side by side, per band, per horizon and per measure."""
    report = record.report
    proto = report["protocol"]
    before, after = report.get("before") or {}, report.get("after") or {}
    first, last = _span(proto["reference_dates"])
    train_first, train_last = _span(proto["train_dates"])
    test_first, test_last = _span(proto["test_dates"])

    def bands(evaluation: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {b["band"]: b for b in evaluation.get("bands") or []}

    bands_before, bands_after = bands(before), bands(after)
    names = {m["key"]: m for g in definition.get("groups", []) for m in g.get("measures", [])}
    aucs = {m["key"]: m for m in before.get("measures") or []}
    horizons = [
        {
            "days": h["horizon_days"],
            "before_auc": _get(h.get("before"), "auc"),
            "after_auc": _get(h.get("after"), "auc"),
            "before_brier": _get(h.get("before"), "brier"),
            "after_brier": _get(h.get("after"), "brier"),
            "base_brier": _get(h.get("after") or h.get("before"), "brier_base_rate"),
            "before_in_order": _get(h.get("before"), "bands_in_order"),
            "after_in_order": _get(h.get("after"), "bands_in_order"),
            "churned": _get(h.get("after") or h.get("before"), "churned") or 0,
            "observations": _get(h.get("after") or h.get("before"), "observations") or 0,
        }
        for h in report.get("horizons") or []
    ]
    measures = []
    for change in (report.get("proposal") or {}).get("measures") or []:
        key = change["key"]
        evidence = aucs.get(key, {})
        measures.append(
            {
                "key": key,
                "name": names.get(key, {}).get("name", key),
                "up": names.get(key, {}).get("higher_is_better", True),
                "verdict": change.get("verdict") or evidence.get("verdict") or "no_signal",
                "auc": change.get("auc", evidence.get("auc")),
                "auc_low": evidence.get("auc_low"),
                "auc_high": evidence.get("auc_high"),
                "before": change.get("grading_before"),
                "after": change.get("grading_after"),
                "weight_before": change.get("weight_before"),
                "weight_after": change.get("weight_after"),
            }
        )
    key_status = None
    status = report.get("key_feature_status")
    if status and status.get("before") and status.get("after"):
        after_rows = {r["status"]: r for r in status["after"]}
        key_status = [
            {
                "status": r["status"],
                "before_share": r["share"],
                "before_rate": r["churn_rate"],
                "after_share": after_rows.get(r["status"], {}).get("share"),
                "after_rate": after_rows.get(r["status"], {}).get("churn_rate"),
            }
            for r in status["before"]
        ]
    chart = (
        bar_chart(
            [(str(h["days"]), [h["before_auc"], h["after_auc"]]) for h in horizons],
            minimum=0.5,
            maximum=1.0,
        )
        if horizons
        else None
    )
    return {
        "id": record.id,
        "created_at": record.created_at,
        "actor": record.actor,
        "base_version": record.base_version,
        "draft_version": record.draft_version,
        "variant": (report.get("proposal") or {}).get("variant", "calibrated"),
        "protocol": {
            "horizon_days": proto["horizon_days"],
            "cadence_days": proto["cadence_days"],
            "n": len(proto["reference_dates"]),
            "first": first,
            "last": last,
            "train_n": len(proto["train_dates"]),
            "train_first": train_first,
            "train_last": train_last,
            "test_n": len(proto["test_dates"]),
            "test_first": test_first,
            "test_last": test_last,
            "gap": proto["gap"],
        },
        "before": before,
        "after": after,
        "baseline_auc": report.get("baseline_auc"),
        "early": {
            "lead_days": calibration_svc.EARLY_WARNING_DAYS,
            **(report.get("early_warning") or {"before": {}, "after": {}}),
        },
        "bands": [
            {
                "band": b,
                "before_share": _get(bands_before.get(b), "share"),
                "before_rate": _get(bands_before.get(b), "churn_rate"),
                "after_share": _get(bands_after.get(b), "share"),
                "after_rate": _get(bands_after.get(b), "churn_rate"),
                "after_lift": _get(bands_after.get(b), "lift"),
            }
            for b in SCORE_BANDS
        ],
        "horizons": horizons,
        "horizon_chart": chart,
        "measures": measures,
        "key_features": report.get("key_features"),
        "key_status": key_status,
        "calibration_table": after.get("calibration") or [],
    }


def _messages(exc: InvalidInput) -> list[str]:
    return [f"{e.field}: {e.message}" for e in exc.errors]


def _editor(
    viewer: Viewer,
    session: Any,
    model_id: DbId,
    *,
    definition: dict[str, Any] | None = None,
    status_code: int = 200,
    errors: list[str] | None = None,
    field_errors: dict[str, str] | None = None,
    preview: Any = None,
    block: str = "section",
    calibration_id: int | None = None,
) -> Response:
    model = health_models.get_model(session, model_id)
    versions = health_models.versions(session, model_id)
    published = next((v for v in versions if v.state == "published"), None)
    draft = next((v for v in versions if v.state == "draft"), None)
    if definition is None:
        source = draft or published
        definition = source.definition if source is not None else {"groups": []}
    record = None
    if calibration_id is not None:
        record = calibration_svc.get_calibration(session, model_id=model_id, calibration_id=calibration_id)
    elif draft is not None:
        record = calibration_svc.latest_for_draft(session, model_id=model_id, draft_version=draft.version)
    return show(
        viewer,
        "settings/health_edit.html",
        {
            "section": "health",
            "sections": SECTIONS,
            "model": model,
            "published": published,
            "draft": draft,
            "definition": definition,
            "base": json.dumps(definition, ensure_ascii=False),
            "document": json.dumps(definition, ensure_ascii=False, indent=2),
            "grading_fields": GRADING_FIELDS,
            "errors": errors or [],
            "field_errors": field_errors or {},
            "preview": preview,
            "bands": BANDS,
            "band_defaults": BAND_DEFAULTS,
            "calibration": None if record is None else calibration_view(record, definition),
            "horizons": CALIBRATION_HORIZONS,
            "bad_share_max": viewer.settings.calibration_bad_share_max,
        },
        block=block,
        status_code=status_code,
    )


def _parse_base(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _form_problem(
    viewer: Viewer,
    session: Any,
    model_id: DbId,
    definition: dict[str, Any] | None,
    field_errors: dict[str, str],
    block: str,
) -> Response:
    """The editor again (422): the form lost its base, or has fields that are not numbers."""
    if definition is None:
        return _editor(
            viewer,
            session,
            model_id,
            status_code=422,
            block=block,
            errors=[viewer._("The form lost its definition; reload the editor.")],
        )
    return _editor(
        viewer,
        session,
        model_id,
        definition=definition,
        status_code=422,
        field_errors=field_errors,
        block=block,
        errors=[viewer._("Enter numbers in the fields marked.")],
    )


async def _submitted(request: Request) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, str]]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    base = _parse_base(fields.get("base", ""))
    if base is None:
        return None, {}, fields
    try:
        definition, errors = apply_form(base, fields)
    except (AttributeError, TypeError):  # a base whose groups or measures are not objects
        return None, {}, fields
    return definition, errors, fields


@router.post("/health/assignments")
async def save_assignments(
    request: Request, user: AdminUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep
) -> Response:
    """Replace the ordered rules that give accounts their primary model. Rows are taken in the
    order of their numbers; a row without a model is dropped."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    rows, items = parse_rules(fields)
    numbers = [row["order"] for row in rows if row["model_id"] is not None]
    try:
        health_assignments.replace(session, items, actor=user.email, now=now)
    except InvalidInput as exc:
        return settings_page(
            viewer,
            session,
            "health",
            status_code=422,
            assignment_rows=rows,
            assignment_errors=[_rule_message(viewer, numbers, e.field, e.message) for e in exc.errors],
        )
    return htmx.redirect(viewer.request, "/settings/health")


def _rule_message(viewer: Viewer, numbers: list[int], field: str, message: str) -> str:
    """``assignments.2.values: …`` as "Rule 3 (values): …" (the row's number on the form)."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(numbers):
        return viewer._(
            "Rule %(number)s (%(field)s): %(problem)s",
            number=numbers[int(parts[1])],
            field=parts[2],
            problem=message,
        )
    return f"{field}: {message}"


RULE_FIELDS = ("order", "model", "rule", "values", "key", "amount")


def parse_rules(form: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[health_assignments.RuleIn]]:
    """The rules form's rows as submitted (to show again) and the rules they give, in order.

    >>> rows, items = parse_rules({"rows": "3", "r0.order": "2", "r0.model": "1", "r0.rule": "plan",
    ...     "r0.values": "pro, team", "r1.order": "1", "r1.model": "2", "r1.rule": "arr_below",
    ...     "r1.amount": "5000", "r2.model": ""})
    >>> [(i.model_id, i.rule, i.values, i.amount) for i in items]
    [(2, 'arr_below', None, '5000'), (1, 'plan', ['pro', 'team'], None)]
    """
    try:
        count = min(max(int(form.get("rows", "0")), 0), health_assignments.MAX_RULES + 10)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        text = {k: form.get(f"r{i}.{k}", "").strip() for k in RULE_FIELDS}
        try:
            order = float(text["order"])
        except ValueError:
            order = float(i + 1)
        model_id = int(text["model"]) if text["model"].isdigit() and len(text["model"]) < 10 else None
        rows.append((order, i, {**text, "model_id": model_id}))
    rows.sort(key=lambda r: (r[0], r[1]))
    shown, items = [], []
    for position, (_, _, row) in enumerate(rows, 1):
        shown.append({"order": position, "model_id": row["model_id"], "rule": row["rule"],
                      "values": row["values"], "key": row["key"], "amount": row["amount"]})
        if row["model_id"] is None:
            continue
        rule, key, amount = str(row["rule"]), str(row["key"] or ""), str(row["amount"] or "")
        values = [v.strip() for v in str(row["values"] or "").split(",") if v.strip()]
        items.append(health_assignments.RuleIn(
            int(row["model_id"]), rule,
            values=values if rule in health_assignments.VALUE_RULES else None,
            key=(key or None) if rule == "trait" else None,
            amount=(amount or None) if rule in health_assignments.AMOUNT_RULES else None,
        ))
    return shown, items


@router.get("/health/{model_id}/edit")
def edit_model(
    model_id: DbId,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    calibration: DbId | None = None,
) -> Response:
    """The editor for a model, starting from its draft (or its published version), with the
    calibration that proposed the draft (or the one asked for)."""
    return _editor(viewer, session, model_id, calibration_id=calibration)


@router.post("/health/{model_id}/calibrate")
async def calibrate_model(
    model_id: DbId,
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """*Suggest from history*: calibrate the published version on the book's history; the
    proposal becomes the draft loaded in the editor, with its validation (nothing published)."""
    form = await request.form()
    text = form.get("horizon_days")
    horizon = (
        int(text) if isinstance(text, str) and text.isdigit() and int(text) in CALIBRATION_HORIZONS else 90
    )
    try:
        record = calibration_svc.calibrate_model(
            session,
            model_id=model_id,
            version=None,
            params=calibration_svc.CalibrationParams(
                horizon_days=horizon, bad_share_max=viewer.settings.calibration_bad_share_max
            ),
            today=viewer.today,
            tz=viewer.settings.tz,
            now=now,
            actor=user.email,
        )
    except InvalidInput as exc:
        too_short = any(e.field == "horizon_days" for e in exc.errors)
        return _editor(
            viewer,
            session,
            model_id,
            status_code=422,
            errors=[
                viewer._(
                    "Not enough history to calibrate: the book needs several months of usage and "
                    "at least five accounts that churned before the newest reference dates."
                )
            ]
            if too_short
            else _messages(exc),
        )
    return htmx.redirect(viewer.request, f"/settings/health/{model_id}/edit?calibration={record.id}")


@router.post("/health/{model_id}/load")
async def load_definition(
    model_id: DbId,
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
) -> Response:
    """Load a definition pasted as JSON into the editor (checked, not stored)."""
    form = await request.form()
    text = form.get("document")
    definition = _parse_base(text if isinstance(text, str) else "")
    if definition is None:
        return _editor(
            viewer,
            session,
            model_id,
            status_code=422,
            errors=[viewer._("The definition is not a JSON object.")],
        )
    try:
        health_models.parse_definition(definition)
    except InvalidInput as exc:
        return _editor(viewer, session, model_id, status_code=422, errors=_messages(exc))
    return _editor(viewer, session, model_id, definition=definition)


@router.post("/health/{model_id}/preview")
async def preview_model(
    model_id: DbId,
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
) -> Response:
    """How today's accounts would fall into the bands with the edited model, beside the published
    version's bands (nothing stored); the ``preview`` block for htmx."""
    definition, field_errors, _ = await _submitted(request)
    if definition is None or field_errors:
        return _form_problem(viewer, session, model_id, definition, field_errors, "preview")
    try:
        result = health_preview.preview(
            session, model_id=model_id, definition=definition, as_of=viewer.today, tz=viewer.settings.tz
        )
    except InvalidInput as exc:
        return _editor(
            viewer,
            session,
            model_id,
            definition=definition,
            status_code=422,
            errors=_messages(exc),
            block="preview",
        )
    return _editor(viewer, session, model_id, definition=definition, preview=result, block="preview")


@router.post("/health/{model_id}/publish")
async def publish_model(
    model_id: DbId,
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Publish the edited definition as the model's next version (the old one is retired)."""
    definition, field_errors, _ = await _submitted(request)
    if definition is None or field_errors:
        return _form_problem(viewer, session, model_id, definition, field_errors, "section")
    try:
        draft = health_models.save_draft(session, model_id=model_id, definition=definition, now=now)
        version = health_snapshots.publish_and_score(
            session,
            model_id=model_id,
            version=draft.version,
            today=viewer.today,
            tz=viewer.settings.tz,
            now=now,
        )
    except InvalidInput as exc:
        return _editor(
            viewer, session, model_id, definition=definition, status_code=422, errors=_messages(exc)
        )
    except Conflict as exc:
        return _editor(viewer, session, model_id, definition=definition, status_code=409, errors=[exc.detail])
    return htmx.redirect(viewer.request, f"/settings/health?published={version.version}")
