"""cache of airflow_provider_ollama."""
