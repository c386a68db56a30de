"""The cloud side: the /predict server and, under training/, the training pipeline (TensorFlow)."""
