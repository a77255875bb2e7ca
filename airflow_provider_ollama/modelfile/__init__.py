"""modelfile of airflow_provider_ollama."""
