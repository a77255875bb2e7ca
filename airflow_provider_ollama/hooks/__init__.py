"""hooks of airflow_provider_ollama."""
