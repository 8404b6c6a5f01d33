from django.apps import AppConfig


class DistillationConfig(AppConfig):
    name = "distillation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Distillation plugs into workflow execution through the model-selection seam; workflows
        # never imports distillation.
        from distillation.services.deployments import deployment_call
        from distillation.services.evaluation import evaluation_call
        from workflows.model_calls import model_selector_register

        model_selector_register(evaluation_call)
        model_selector_register(deployment_call)
