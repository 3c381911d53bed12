"""What faces a person: the chat app, its rules, the REST and socket.io channels and the webchat page."""
