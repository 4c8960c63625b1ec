"""Reports of a mechtests run: results.json (the source of truth), HTML, Markdown, terminal, baseline gate."""
