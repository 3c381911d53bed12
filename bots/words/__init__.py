"""What a bot says: the generator protocol and the bank, selection, adaptation and voice that make its words."""
