from django.urls import path

from routing import api

urlpatterns = [
    path("routers", api.RouterListView.as_view()),
    path("routers/<str:router_id>", api.RouterDetailView.as_view()),
    path("routers/<str:router_id>/compare", api.RouterJobCreateView.as_view(kind="compare")),
    path("routers/<str:router_id>/train", api.RouterJobCreateView.as_view(kind="train")),
    path("routers/<str:router_id>/jobs/<str:job_id>", api.RouterJobDetailView.as_view()),
    path("routers/<str:router_id>/report", api.RouterReportView.as_view()),
]
