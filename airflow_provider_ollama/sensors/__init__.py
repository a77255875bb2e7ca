"""sensors of airflow_provider_ollama."""
