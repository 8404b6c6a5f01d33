"""Services: everything distillation writes. Jobs (plan and preview: plans.py, from the records of
records.py; create, train, cancel: jobs.py) and deployments (deploy a student, route a node's calls
by its state); evaluation runs (a job's models driving its agent end to end: evaluation.py)."""

from distillation.services.deployments import deployment_call, deployment_set, job_deploy
from distillation.services.evaluation import evaluation_report, evaluation_start
from distillation.services.jobs import job_cancel, job_create, job_execute, jobs_sweep
from distillation.services.plans import distilled_node, job_plan, job_preview

__all__ = [
    "deployment_call",
    "deployment_set",
    "distilled_node",
    "evaluation_report",
    "evaluation_start",
    "job_cancel",
    "job_create",
    "job_deploy",
    "job_execute",
    "job_plan",
    "job_preview",
    "jobs_sweep",
]
