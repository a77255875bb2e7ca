"""server of airflow_provider_ollama."""
