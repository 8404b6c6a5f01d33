"""REST API: parse input, call one service or selector, shape the output."""
from rest_framework import status
from rest_framework.response import Response

from distillation import events, selectors, services
from distillation.models import DistillationJob, NodeDeployment
from workflows import selectors as workflow_selectors
from workflows.api.output import iso
from workflows.api.views import WorkspaceView, _after, _body


def job_out(job: DistillationJob) -> dict:
    return {
        "id": str(job.id), "workflow": str(job.workflow_id), "node_id": job.node_id, "status": job.status,
        "method": job.method, "teacher": job.teacher, "student": job.student, "filters": job.filters,
        "config": job.config, "progress": job.progress, "losses": job.losses, "report": job.report,
        "artifacts": job.artifacts, "model": job.model or None, "error": job.error or None,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
    }


def deployment_out(node_id: str, deployment: NodeDeployment | None) -> dict:
    if deployment is None:
        return {"node_id": node_id, "state": "teacher", "model": None, "teacher_model": None, "changes": []}
    return {"node_id": node_id, "state": deployment.state, "model": deployment.student_model or None,
            "teacher_model": deployment.teacher_model or None,
            "changes": [{"from_state": c.from_state, "to_state": c.to_state, "model": c.model or None,
                         "user": c.user.username if c.user else None, "at": iso(c.at)}
                        for c in deployment.changes.all()]}


class PreviewView(WorkspaceView):
    def post(self, request):
        plan = services.job_plan(workspace=self.workspace, body=_body(request))
        return Response(services.job_preview(plan=plan))


class JobListView(WorkspaceView):
    def get(self, request):
        jobs = selectors.job_list(workspace=self.workspace, workflow=request.query_params.get("workflow"),
                                  node_id=request.query_params.get("node_id"))
        return Response([job_out(j) for j in jobs])

    def post(self, request):
        job = services.job_create(workspace=self.workspace, body=_body(request))
        return Response(job_out(job), status=status.HTTP_201_CREATED)


class JobDetailView(WorkspaceView):
    def get(self, request, job_id):
        return Response(job_out(selectors.job_get(workspace=self.workspace, job_id=job_id)))


class JobCancelView(WorkspaceView):
    def post(self, request, job_id):
        job = services.job_cancel(job=selectors.job_get(workspace=self.workspace, job_id=job_id))
        return Response(job_out(job), status=status.HTTP_202_ACCEPTED)


class JobEventsView(WorkspaceView):
    def get(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        return Response(events.events_after(job_id=job.id, after=_after(request.query_params.get("after"))))


class JobDeployView(WorkspaceView):
    def post(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        endpoint = services.job_deploy(job=job, name=_body(request).get("name"))
        return Response({"model": endpoint.name}, status=status.HTTP_201_CREATED)


class NodeDeploymentView(WorkspaceView):
    def get(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        services.distilled_node(workflow=workflow, node_id=node_id)
        return Response(deployment_out(node_id, selectors.deployment_of(workflow=workflow, node_id=node_id)))

    def post(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = _body(request)
        services.deployment_set(workflow=workflow, node_id=node_id, state=body.get("state"),
                                model=body.get("model"), user=request.user)
        return Response(deployment_out(node_id, selectors.deployment_of(workflow=workflow, node_id=node_id)))


class SavingsView(WorkspaceView):
    def get(self, request, workflow_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        return Response(selectors.savings(workflow=workflow, since=request.query_params.get("since"),
                                          until=request.query_params.get("until")))
