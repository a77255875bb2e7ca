"""testing of airflow_provider_ollama."""
