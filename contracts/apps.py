from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = "Capacity contracts"

    def ready(self) -> None:
        from contracts import checks  # noqa: F401  (registers the deployment checks)
