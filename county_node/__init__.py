"""The county node: approval (办件审批), supervision (电子监察), video index, and the hall's HTTP API and UI."""
