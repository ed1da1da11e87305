"""`make bench`: each scenario measures a Frontline figure beside the machine's own limit, in one run.

A scenario is a module with `run(env: BenchEnv) -> ScenarioResult`, registered by name in
`bench.__main__.SCENARIOS`: ingest, projector, api, replay (with bench.corrections), stream, live,
acled, replica. It owns a fresh database, starts its servers as subprocesses, stops them whatever
happens, and its result is printed as a table and recorded in `bench/results/`.

The harness every scenario shares:
- bench.common: the environment, results and their table, percentiles, the run's record;
- bench.stack: fresh databases, `frontline` servers and workers, the production stack and the
  clean-up of its Redis queue;
- bench.measure: the machine's limits (the raw read, the NOTIFY floor), read-model fingerprints,
  stage timing; bench.raw (raw writes), bench.ceiling (a bare ASGI server): the other limits;
- bench.corpus (the event logs), bench.paced (a paced HTTP client), bench.listen (notifications
  heard, freshness), bench.cpu (CPU per process group), bench.wrk_runner (wrk).
"""
