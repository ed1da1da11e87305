"""`make bench`: each scenario measures a Frontline figure beside the machine's own limit, in one run.

A scenario is a module with `run(env: BenchEnv) -> ScenarioResult`, registered by name in
`bench.__main__.SCENARIOS`. It owns a fresh database, starts its servers as subprocesses, stops them
whatever happens, and its result is printed as a table and written to `bench/results/`.
"""
