"""Services: everything distillation writes. Jobs (plan, preview, train) and deployments (deploy a
student, route a node's calls by its state)."""
from distillation.services.deployments import deployment_call, deployment_set, job_deploy
from distillation.services.jobs import (job_cancel, job_create, job_execute, job_plan, job_preview, jobs_sweep,
                                        llm_node)

__all__ = ["deployment_call", "deployment_set", "job_cancel", "job_create", "job_deploy", "job_execute", "job_plan",
           "job_preview", "jobs_sweep", "llm_node"]
