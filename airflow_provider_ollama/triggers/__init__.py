"""triggers of airflow_provider_ollama."""
