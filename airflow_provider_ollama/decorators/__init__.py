"""decorators of airflow_provider_ollama."""
