"""Function tools for the end-to-end tests, served in place of the project's tools/ folder."""
