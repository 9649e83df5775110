"""Generated wire code (protobuf + gRPC) for the federation's contracts; sources in ``proto/``. Do not edit:
run ``make proto`` after changing a ``.proto`` file."""
