"""The Rasa side: the dialogue engine, its servers and pool, training, the action server and stance."""
