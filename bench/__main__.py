"""`python -m bench [SCENARIO|all] [--quick]`: run benchmark scenarios, print and record their figures."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from bench.common import (
    BenchEnv,
    BenchError,
    Postgres,
    ScenarioResult,
    console,
    machine_info,
    print_machine,
    render,
    write_record,
)

# Scenario name -> module with `run(env: BenchEnv) -> ScenarioResult`, imported only when run.
SCENARIOS: dict[str, str] = {
    "ingest": "bench.ingest",
    "projector": "bench.projector",
    "api": "bench.api",
    "replay": "bench.replay",
    "replay-growth": "bench.growth",
    "stream": "bench.stream",
    "live": "bench.live",
    "acled": "bench.acled",
    "replica": "bench.replica",
    "aging": "bench.aging",
    "late": "bench.late",
    "contention": "bench.contention",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", nargs="?", default="all", choices=[*SCENARIOS, "all"])
    parser.add_argument(
        "--quick", action="store_true", help="short runs: a smoke test of the harness, not figures to quote"
    )
    args = parser.parse_args(argv)
    env = BenchEnv(
        pg=Postgres.from_env(), run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), quick=args.quick
    )
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = [run_scenario(name, env) for name in names]
    return 0 if all(results) else 1


def run_scenario(name: str, env: BenchEnv) -> bool:
    """Run one scenario, print and record it; False when it failed or a check did not hold."""
    machine = machine_info(env.pg)
    console.rule(f"bench {name}" + (" (quick: not figures to quote)" if env.quick else ""))
    print_machine(machine)
    scenario = cast(Callable[[BenchEnv], ScenarioResult], importlib.import_module(SCENARIOS[name]).run)
    try:
        result = scenario(env)
    except BenchError as exc:
        console.print(f"[bold red]{name} could not be measured:[/] {exc}")
        return False
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    render(result)
    console.print(f"written: {write_record(result, machine, env)}")
    if not result.ok:
        console.print(f"[bold red]{name}: a check FAILED (see above); its figures are not to be trusted[/]")
    return result.ok


if __name__ == "__main__":
    sys.exit(main())
