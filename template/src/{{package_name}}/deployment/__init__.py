"""Deploy this agent to Azure AI Foundry: definition, validation and version lifecycle.

Template-owned; `deploy.py` at the project root is its command line. Nothing here
imports the server. Import the async operations from `.aio`, the sync ones from
`.operations`; both take any Azure credential (DefaultAzureCredential by default).
"""
