"""`frontline demo`: the claims of the seed article (../shared/seed-article.txt), as the report a
feed would send, posted to a running Frontline, and a short summary of what it stored."""

from __future__ import annotations

from typing import Any

import httpx

from services.seed import SEED_REPORT


class ServerUnreachable(Exception):
    """No Frontline answers at `url`."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = reason


class ServerRefused(Exception):
    """Frontline answered, but not with a success (a missing key: 401)."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.url = url
        self.status = status
        self.detail = detail


def run(base: str, token: str | None) -> list[str]:
    """POST the seed report to the Frontline at `base`; returns the summary lines to print.

    Raises ServerUnreachable when nothing answers, ServerRefused when the report is refused.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            response = client.post("/v1/reports", json=SEED_REPORT)
            if response.status_code not in (200, 201):
                raise ServerRefused(base, response.status_code, _detail(response))
            answer = response.json()
            contested = client.get("/v1/contested", params={"min_position": answer["position"]})
    except httpx.TimeoutException:
        raise ServerUnreachable(base, "no answer within 30 s") from None
    except httpx.TransportError as exc:
        raise ServerUnreachable(base, _reason(exc)) from None
    return summary(base, answer, response.status_code == 201, contested)


def summary(base: str, answer: dict[str, Any], created: bool, contested: httpx.Response) -> list[str]:
    places = {e["place_id"] for e in answer["events"]}
    what = f"{len(answer['events'])} claims about {len(places)} places"
    lines = [
        f"{'stored' if created else 'already stored (nothing new)'}: the seed article, {what} "
        f"(report {answer['report_id']}, log position {answer['position']})"
    ]
    if contested.status_code == 200:
        lines += [f"contested: {_control(p)}" for p in contested.json()["items"]]
    lines.append(f"look: {base}/ (live map), {base}/v1/contested, {base}/v1/places, {base}/docs")
    return lines


def _control(place: dict[str, Any]) -> str:
    holders = ", ".join(f"{c['actor']} {c['share']:g} %" for c in place["control"])
    return f"{place['name']}: {holders}"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = str(body.get("detail") or body.get("title") or body)
    if response.status_code == 401:
        detail += " (give an ingest key: --key, or INGEST_API_KEYS)"
    return detail


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc)  # "[Errno 111] Connection refused"
    cause = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return cause[:1].lower() + cause[1:] if cause[1:2].islower() else cause
