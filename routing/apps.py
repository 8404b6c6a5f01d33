from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The router plugs into node and gateway calls through the model-selection seams; workflows
        # never imports routing.
        from routing.calls import routed_gateway_call, routed_node_call
        from workflows.model_calls import gateway_selector_register, model_selector_register

        model_selector_register(routed_node_call)
        gateway_selector_register(routed_gateway_call)
