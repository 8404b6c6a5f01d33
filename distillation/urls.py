from django.urls import path

from distillation import api

urlpatterns = [
    path("distillation-methods", api.MethodListView.as_view()),
    path("distillations/preview", api.PreviewView.as_view()),
    path("distillations", api.JobListView.as_view()),
    path("distillations/<str:job_id>", api.JobDetailView.as_view()),
    path("distillations/<str:job_id>/cancel", api.JobCancelView.as_view()),
    path("distillations/<str:job_id>/events", api.JobEventsView.as_view()),
    path("distillations/<str:job_id>/deploy", api.JobDeployView.as_view()),
    path("distillations/<str:job_id>/evaluation-runs", api.JobEvaluationRunsView.as_view()),
    path("workflows/<str:workflow_id>/nodes/<str:node_id>/deployment", api.NodeDeploymentView.as_view()),
    path("workflows/<str:workflow_id>/savings", api.SavingsView.as_view()),
]
