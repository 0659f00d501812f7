"""The demo exchange: a seeded generator, an in-process SFTP server, and a hub.yaml."""
