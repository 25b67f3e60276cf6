"""``POST /api/v1/benefits/assess`` as a plain Starlette route: the API call with a latency target.

Why not a FastAPI route like the others: its per-request machinery (matching through the included
routers, solving dependencies, validating the body and the response) cost about 250 µs of the
400 µs an assessment request took in process, three times the assessment itself, and under 100
concurrent requests on two cores that machinery set the p99 (issue 7 asks ≤ 50 ms; docs/web.md,
Speed).  This route does the same checks with the same code: the caller and its ASSESS_BENEFIT
permission (``security.authorised``), a JSON object body, a known policy, located 422s in
FastAPI's shape.  The app matches it before any other route and merges :data:`OPERATION` into its
OpenAPI schema, so clients, the docs and the schema-driven tests see one more operation like the
rest.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from greenfin.api.security import authorised
from greenfin.benefits.projects import ProjectProblem, assess_project
from greenfin.reference.factors import DEFAULT_POLICY, POLICIES

PATH = "/api/v1/benefits/assess"
PERMISSION = "ASSESS_BENEFIT"


def _invalid(where: tuple[str, ...], kind: str, message: str, value: Any) -> Response:
    """A 422 in FastAPI's own validation shape, so clients parse one error format."""
    detail = [{"type": kind, "loc": list(where), "msg": message, "input": value}]
    return Response(json.dumps({"detail": detail}, ensure_ascii=False), 422, media_type="application/json")


async def assess_benefits(request: Request) -> Response:
    """单个项目的环境效益测算 / assess one project (the project document: docs/methodology)."""
    raw = await request.body()  # first: the caller check may read a form body, and a stream reads once
    await authorised(request, PERMISSION)
    policy = request.query_params.get("policy", DEFAULT_POLICY.name)
    if policy not in POLICIES:
        return _invalid(
            ("query", "policy"), "enum", f"应为 {' / '.join(POLICIES)} 之一 / unknown policy", policy
        )
    if not raw:
        return _invalid(("body",), "missing", "缺少请求体 / Field required", None)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        return _invalid(("body",), "content_type", "请求体应为 application/json / expected JSON", kind)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # not UTF-8, not JSON, or nested beyond 1,024 levels
        return _invalid(
            ("body",), "json_invalid", f"JSON 格式错误 / JSON decode error: {type(exc).__name__}", None
        )
    if not isinstance(body, dict):
        return _invalid(("body",), "dict_type", "应为 JSON 对象 / Input should be a valid dictionary", body)
    try:
        result = assess_project(body, POLICIES[policy]).as_dict()
    except (ProjectProblem, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    # orjson: a thirtieth of json.dumps's 30 µs here; it writes UTF-8 as is, like ensure_ascii=False
    return Response(orjson.dumps(result), media_type="application/json")


assess_benefits.permission = PERMISSION  # type: ignore[attr-defined]  # read by the route x role tests

ROUTE = Route(PATH, assess_benefits, methods=["POST"], name="assess_benefits")

#: The operation as FastAPI would describe the same signature (``body: dict``, ``policy`` query).
OPERATION: dict[str, Any] = {
    "tags": ["benefits"],
    "summary": "Assess Benefits",
    "description": assess_benefits.__doc__,
    "operationId": "assess_benefits_api_v1_benefits_assess_post",
    "parameters": [
        {
            "name": "policy", "in": "query", "required": False,
            "schema": {"type": "string", "enum": list(POLICIES), "default": DEFAULT_POLICY.name, "title": "Policy"},
            "description": "排放因子政策 / factor policy (reference/factors.POLICIES)",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True, "title": "Body"}}},
    },
    "responses": {
        "200": {
            "description": "测算结果及其依据（因子、归属、说明）/ the assessment with its trail",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AssessmentOut"}}},
        },
        "422": {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        },
    },
}  # fmt: skip


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _numbers(description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "number"}, "description": description}


#: What ``ProjectAssessment.as_dict`` answers (benefits/projects.py, benefits/assess.py), as the
#: response schema: written out because the route returns the library's dictionary as is.
ASSESSMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "AssessmentOut",
    "properties": {
        "id": _text("项目编号（请求中给出时）/ the project's id, when given"),
        "name": _text("项目名称（请求中给出时）/ the project's name, when given"),
        "methodology": {
            "type": "object", "description": "所用方法学及其版本 / the methodology used",
            "properties": {"id": _text("方法学 / methodology id"), "version": _text("版本 / version")},
        },
        "policy": _text("排放因子政策 / factor policy"),
        "convention": _text("减排口径 / accounting convention"),
        "reporting_year": {"type": "integer", "description": "报告年度 / reporting year"},
        "quality": _text("数据质量：reported 实测、estimated 估算 / data quality"),
        "indicators": _numbers(
            "项目全部年度效益：CO2 以 tCO2e、标准煤以 tce、COD/氨氮/SO2/NOx 等以 t、节水以 m³ 计 "
            "/ the project's yearly benefits (tCO2e, tce, t, m³)"
        ),
        "attribution": {
            "type": ["object", "null"], "description": "归属于本行贷款的比例及依据 / the bank's share and its rule",
            "properties": {
                "method": _text("归属方法 / method"),
                "share": {"type": "number", "description": "归属比例（0–1）/ share, 0 to 1"},
                "numerator_yuan": {"type": "number", "description": "分子（元）/ numerator, CNY"},
                "denominator_yuan": {"type": "number", "description": "分母（元）/ denominator, CNY"},
                "rule": _text("归属规则 / the rule"),
            },
        },
        "attributed": _numbers("归属于本行贷款的效益，单位同 indicators / the attributed benefits, same units"),
        "inputs": _numbers("计算所用的输入（已换算为方法学的单位）/ the inputs used, in the methodology's units"),
        "estimated": _numbers("以默认值估算的输入 / inputs estimated from defaults"),
        "factors": {
            "type": "object", "description": "所用因子（含年度、来源、置信度）/ the factors used, with year, source and confidence",
            "additionalProperties": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
        "notes": {"type": "array", "items": {"type": "string"}, "description": "说明 / notes"},
        "stated": _numbers("项目方申报的效益，供核对 / the benefits the project stated, for comparison"),
        "flags": {
            "type": "array", "description": "合理性检查的提示 / plausibility flags",
            "items": {
                "type": "object",
                "properties": {
                    "code": _text("提示代码 / flag code"), "field": _text("相关字段 / field"),
                    "message_zh": _text("中文说明 / message in Chinese"),
                    "message_en": _text("英文说明 / message in English"),
                },
            },
        },
    },
}  # fmt: skip


def install(app: FastAPI) -> None:
    """Match the route before every other one, and describe it in the app's OpenAPI schema."""
    app.router.routes.insert(0, ROUTE)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"].setdefault(PATH, {})["post"] = OPERATION
            schema.setdefault("components", {}).setdefault("schemas", {})["AssessmentOut"] = ASSESSMENT_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
