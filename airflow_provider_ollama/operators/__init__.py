"""operators of airflow_provider_ollama."""
