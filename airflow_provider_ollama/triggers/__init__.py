"""triggers of airflow_provider_ollama."""

from airflow_provider_ollama.triggers._events import TriggerStatus

__all__ = ["TriggerStatus"]
