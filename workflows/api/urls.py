from django.urls import path

from workflows.api import views

urlpatterns = [
    path("auth/me", views.MeView.as_view()),
    path("auth/login", views.LoginView.as_view()),
    path("auth/logout", views.LogoutView.as_view()),
    path("node-types", views.NodeTypesView.as_view()),
    path("workflows", views.WorkflowListView.as_view()),
    path("workflows/import", views.WorkflowImportView.as_view()),
    path("workflows/<str:workflow_id>", views.WorkflowDetailView.as_view()),
    path("workflows/<str:workflow_id>/publish", views.WorkflowPublishView.as_view()),
    path("workflows/<str:workflow_id>/versions", views.WorkflowVersionsView.as_view()),
    path("workflows/<str:workflow_id>/versions/<int:version>", views.WorkflowVersionDetailView.as_view()),
    path("workflows/<str:workflow_id>/export", views.WorkflowExportView.as_view()),
    path("workflows/<str:workflow_id>/runs", views.WorkflowRunsView.as_view()),
    path("runs", views.RunListView.as_view()),
    path("runs/<str:run_id>", views.RunDetailView.as_view()),
    path("runs/<str:run_id>/events", views.RunEventsView.as_view()),
    path("runs/<str:run_id>/cancel", views.RunCancelView.as_view()),
    path("runs/<str:run_id>/resume", views.RunResumeView.as_view()),
    path("models", views.ModelListView.as_view()),
    path("models/<str:name>", views.ModelDetailView.as_view()),
    path("traces", views.TraceListView.as_view()),
    path("traces/<str:trace_id>", views.TraceDetailView.as_view()),
]
