"""Distillation: traces -> datasets, KD losses, trainer, evaluation, export.

`run_job(config, records=None, on_progress=None, should_stop=None) -> JobResult(report, artifacts)`
is the entry point for the platform and the CLI. It is imported lazily so that
`import orchestra.distill.losses` stays light.
"""


def __getattr__(name: str):
    if name in ("run_job", "JobResult"):
        from orchestra.distill import job

        return getattr(job, name)
    raise AttributeError(f"module 'orchestra.distill' has no attribute {name!r}")
