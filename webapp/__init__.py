"""The web app (app.py): a Gradio page over trainers/restore_service.py."""
